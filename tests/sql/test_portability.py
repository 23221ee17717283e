"""Every SQL file is one SELECT over logical names that transpiles to Spark SQL."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from offline_rl.data.sql_jobs import compose_query, list_models

MODELS = list_models()
# Constructs STYLE.md measured as breaking silently between DuckDB and Spark.
NON_PORTABLE = re.compile(
    r"\b(quantile_cont|epoch_ms|list_sum|list_slice|hash|len)\s*\(|->|\blambda\b|COPY\b|read_parquet|CREATE\b",
    re.IGNORECASE,
)


def test_every_layer_has_models():
    assert {model.layer for model in MODELS} == {"staging", "intermediate", "marts", "analysis", "tests"}


@pytest.mark.parametrize("model", MODELS, ids=[model.name for model in MODELS])
def test_model_is_one_portable_select(model):
    assert model.sql.lstrip().startswith("--"), "header comment naming inputs, params and grain"
    assert re.search(r"^-- inputs:", model.sql, re.MULTILINE)
    assert re.search(r"^-- grain:", model.sql, re.MULTILINE)
    statements = sqlglot.parse(model.body, read="duckdb")
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    assert not NON_PORTABLE.search(model.body)
    spark = sqlglot.transpile(model.body, read="duckdb", write="spark")[0]
    assert "SELECT" in spark


@pytest.mark.parametrize("name", ["ik_training_set", "user_trajectories"])
def test_composed_marts_transpile(name):
    query, params = compose_query(name, frozenset({"logs", "signal_responses"}))
    assert sqlglot.transpile(query, read="duckdb", write="spark")
    assert all(f"${param}" in query for param in params)

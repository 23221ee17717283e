"""Every SQL file is one portable SELECT, and the lint refuses what DuckDB and Spark disagree on."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from offline_rl.data import sql_jobs
from offline_rl.data.engines.spark_engine import to_spark_sql
from offline_rl.data.sql_jobs import compose_query, list_models, run_sql_job
from offline_rl.data.sql_portability import (
    REFUSED_FUNCTIONS,
    NonPortableSqlError,
    check_portable,
    portability_issues,
)

MODELS = list_models()


def test_every_layer_has_models():
    assert {model.layer for model in MODELS} == {"staging", "intermediate", "marts", "analysis", "tests"}


@pytest.mark.parametrize("model", MODELS, ids=[model.name for model in MODELS])
def test_model_is_one_portable_select(model):
    assert model.sql.lstrip().startswith("--"), "header comment naming inputs, params and grain"
    assert re.search(r"^-- inputs:", model.sql, re.MULTILINE)
    assert re.search(r"^-- grain:", model.sql, re.MULTILINE)
    statements = sqlglot.parse(model.body, read="duckdb")
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    assert portability_issues(model.sql, source=model.name) == []
    assert "SELECT" in to_spark_sql(model.body)


@pytest.mark.parametrize("name", ["ik_training_set", "user_trajectories"])
def test_composed_marts_transpile_with_their_parameters_as_markers(name):
    query, params = compose_query(name, frozenset({"logs", "signal_responses"}))
    spark = to_spark_sql(query)
    assert params and all(f"${param}" in query and f":{param}" in spark for param in params)
    assert "$" not in spark


# (SQL, a fragment of the refusal). Each row is a construct measured to break between DuckDB
# and Spark; the rule that refuses it is in offline_rl/data/sql_portability.py.
REFUSED = [
    ("SELECT EPOCH(ts) - EPOCH(p) AS gap FROM t", "whole-second UNIX_TIMESTAMP"),
    ("SELECT epoch_ms(ts) FROM t", "epoch_ms()"),
    ("SELECT epoch_us(ts) FROM t", "epoch_us()"),
    ("SELECT EXTRACT(EPOCH FROM ts) FROM t", "EXTRACT(EPOCH"),
    ("SELECT AVG(CASE WHEN a THEN 1.0 ELSE 0.0 END) FROM t", "decimal literal"),
    ("SELECT CAST(SUM(0.5 * x) AS DOUBLE) FROM t", "decimal literal 0.5"),
    ("SELECT 1.0 / n FROM t", "decimal literal 1.0"),
    ("SELECT array_position(xs, x) - 1 FROM t", "NULLIF(array_position(xs, x), 0)"),
    ("SELECT NULLIF(array_position(xs, x), 1) FROM t", "NULL on DuckDB and 0 on Spark"),
    ("SELECT SUM(x) FROM t", "HUGEINT"),
    ("SELECT LIST(x ORDER BY k) FROM t", "ordered aggregate"),
    ("SELECT string_agg(x, ',' ORDER BY k) FROM t", "ordered aggregate"),
    ("SELECT hash(user_id) FROM t", "md5(id)"),
    ("SELECT quantile_cont(x, 0.5) FROM t", "quantile"),
    ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t", "PERCENTILE_APPROX"),
    ("SELECT len(xs) FROM t", "string length"),
    ("SELECT list_sum(xs) FROM t", "untranslated"),
    ("SELECT list_slice(xs, 1, 2) FROM t", "untranslated"),
    ("SELECT xs[1:2] FROM t", "slicing"),
    ("SELECT list_transform(xs, x -> x + 1) FROM t", "'->'"),
    ("SELECT list_transform(xs, lambda x: x + 1) FROM t", "lambda"),
    ("SELECT my_udf(x) FROM t", "sqlglot does not know this DuckDB function"),
    ("SELECT * FROM read_parquet('logs.parquet')", "never files"),
    ("CREATE TABLE t2 AS SELECT 1", "exactly one SELECT"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
]


@pytest.mark.parametrize(("sql", "fragment"), REFUSED, ids=[sql for sql, _ in REFUSED])
def test_lint_refuses_constructs_that_break_on_spark(sql, fragment):
    with pytest.raises(NonPortableSqlError, match=re.escape(fragment)):
        check_portable(sql, source="sql/marts/example.sql")


ALLOWED = [
    "SELECT date_diff('microsecond', p, ts) > CAST($gap AS DOUBLE) * 1000000 AS starts FROM t",
    "SELECT AVG(CASE WHEN a THEN 1 ELSE 0 END) AS share FROM t",
    "SELECT CAST(1 AS DOUBLE) / n, CAST(0.5 AS DOUBLE) * x FROM t",
    "SELECT x FROM t WHERE x > 0.5",
    "SELECT CAST(NULLIF(array_position(xs, x), 0) - 1 AS BIGINT) FROM t",
    "SELECT CAST(SUM(x) OVER (PARTITION BY u ORDER BY ts) - 1 AS BIGINT) FROM t",
    "SELECT LIST(x) OVER (PARTITION BY u ORDER BY ts ROWS BETWEEN $n PRECEDING AND 1 PRECEDING) FROM t",
    "SELECT 'hash(' AS text, \"len\" FROM t",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_lint_allows_the_portable_rewrites(sql):
    assert portability_issues(sql) == []


def test_refusal_names_the_file_and_line():
    sql = "-- header\nSELECT\n    a,\n    EPOCH(ts) AS seconds\nFROM t"
    (issue,) = portability_issues(sql, source="sql/marts/example.sql")
    assert (issue.source, issue.line) == ("sql/marts/example.sql", 4)
    assert str(issue).startswith("sql/marts/example.sql line 4: epoch()")


def test_every_function_refused_by_name_is_caught_as_written():
    for name in REFUSED_FUNCTIONS:
        assert portability_issues(f"SELECT {name}(x) FROM t"), name


def test_runner_refuses_a_non_portable_model_before_running_it(tmp_path, monkeypatch):
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "gaps.sql").write_text(
        "-- gaps: seconds between a user's events\n-- inputs: logs\n-- params: none\n"
        "-- grain: one row per event\nSELECT EPOCH(ts) - EPOCH(LAG(ts) OVER (ORDER BY ts)) AS gap FROM logs\n"
    )
    monkeypatch.setattr(sql_jobs, "sql_root", lambda: tmp_path)

    class Unreachable:
        name = "unreachable"

        def run(self, *args):
            raise AssertionError("the engine ran a query the lint refuses")

        write = run

    with pytest.raises(NonPortableSqlError, match=r"sql/marts/gaps.sql line 5: epoch\(\)"):
        run_sql_job("gaps", {"logs": None}, engine=Unreachable())

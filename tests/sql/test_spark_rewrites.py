"""The DuckDB list functions the Spark engine rewrites give what DuckDB gives, NULLs and NaN
included (offline_rl.data.engines.spark_engine.SPARK_REWRITES)."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from offline_rl.data.engines.spark_engine import SPARK_REWRITES, to_spark_sql
from offline_rl.data.sql_portability import portability_issues

LISTS = pa.table(
    {
        "k": [1, 2, 3, 4, 5, 6],
        "xs": pa.array([[1, 2, 2], [1, None], [None, None], [], None, [3]], pa.list_(pa.int64())),
        "ps": pa.array(
            [[0.1, 0.2, 0.7], [0.5, None], [None, None], [], None, [float("nan"), 0.5]], pa.list_(pa.float64())
        ),
    }
)

QUERIES = {
    "list_sum": "SELECT k, list_sum(ps) AS v FROM lists ORDER BY k",
    "list_count": "SELECT k, list_count(xs) AS v FROM lists ORDER BY k",
    "list_element": "SELECT k, list_element(ps, 2) AS v, list_element(xs, NULLIF(array_position(xs, 2), 0)) AS w "
    "FROM lists ORDER BY k",
    "list_distinct": "SELECT k, array_length(list_distinct(xs)) AS v, array_length(array_distinct(xs)) AS w "
    "FROM lists ORDER BY k",
}


def test_every_rewrite_is_tested_and_leaves_no_duckdb_name():
    assert set(QUERIES) == set(SPARK_REWRITES)
    for name, query in QUERIES.items():
        assert not portability_issues(query), name
        spark = to_spark_sql(query).lower()
        assert f"{name}(" not in spark, spark


def _same(left, right) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    return left == right


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_rewrites_give_what_duckdb_gives(engine, duckdb_engine, name):
    views = {"lists": LISTS}
    got = engine.run(QUERIES[name], views, {}).to_pylist()
    expected = duckdb_engine.run(QUERIES[name], views, {}).to_pylist()
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(_same(mine[key], theirs[key]) for key in mine), (name, mine, theirs)


def test_what_duckdb_gives():
    # The semantics the rewrites reproduce, pinned: NULL elements are skipped by list_sum and
    # list_count and dropped by list_distinct; list_element is 1-based and NULL out of range.
    from offline_rl.data.engines import sql_engine

    rows = {name: sql_engine("duckdb").run(query, {"lists": LISTS}, {}).to_pylist() for name, query in QUERIES.items()}
    assert [row["v"] for row in rows["list_count"]] == [3, 1, 0, 0, None, 1]
    assert [row["v"] for row in rows["list_distinct"]] == [2, 1, 0, 0, None, 1]
    assert [row["v"] for row in rows["list_element"]] == [0.2, None, None, None, None, 0.5]
    assert [row["w"] for row in rows["list_element"]] == [2, None, None, None, None, None]
    sums = [row["v"] for row in rows["list_sum"]]
    assert sums[0] == pytest.approx(1.0) and sums[1] == 0.5 and sums[4] is None and math.isnan(sums[5])

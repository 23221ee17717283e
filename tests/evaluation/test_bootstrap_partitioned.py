"""The bootstrap does not depend on how rows are partitioned or ordered: unit keys, blocks and
Poisson weights are functions of the ids alone, and per-partition sums merge into the units
(and intervals) of a run on one machine."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline_rl.evaluation.bootstrap import bootstrap_functionals, poisson_weights
from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.evaluate import EvaluationConfig, evaluate_arrays
from offline_rl.evaluation.hashing import GOLDEN, block_of, mix64, mix64_scalar, unit_keys
from offline_rl.evaluation.partitioned import (
    StatisticsLayout,
    batches_of,
    merge_unit_sums,
    partial_unit_sums,
    spark_resampling_units,
)

ROWS = 100_000
USERS = 7_000


def _log(rows: int = ROWS, users: int = USERS, seed: int = 0) -> pa.Table:
    """A logged table with two candidate policies and two metrics; string user ids."""
    rng = np.random.default_rng(seed)
    propensity = rng.uniform(0.05, 1.0, rows)
    return pa.table(
        {
            "event_id": rng.permutation(np.arange(10 * rows, 11 * rows)).astype(np.int64),
            "user_id": pa.array([f"user-{u}" for u in rng.integers(0, users, rows)]),
            "propensity": propensity,
            "p_target": np.clip(propensity * rng.lognormal(0.0, 0.5, rows), 0.0, 1.0),
            "p_production": np.clip(propensity * rng.lognormal(0.0, 0.2, rows), 0.0, 1.0),
            "click": (rng.random(rows) < 0.08).astype(np.float64),
            "like": (rng.random(rows) < 0.02).astype(np.float64),
        }
    )


def _layout(clustered: bool) -> StatisticsLayout:
    return StatisticsLayout(
        unit="user_id" if clustered else "event_id",
        clustered=clustered,
        policies={"target": "p_target", "production": "p_production"},
        rewards={"click": "click", "like": "like"},
        estimators=("ips", "snips", "ncis"),
        baseline="production",
    )


def _local(table: pa.Table, layout: StatisticsLayout, *, max_units, seed=0):
    columns = {name: table.column(name).to_numpy() for name in layout.columns if name != layout.unit}
    design = layout.design(columns)
    ids = table.column(layout.unit).to_numpy(zero_copy_only=False)
    if layout.clustered:
        return design.resampling_units(clusters=ids, max_units=max_units, seed=seed), design
    return design.resampling_units(events=ids, max_units=max_units, seed=seed), design


def _assert_same_units(left, right):
    np.testing.assert_array_equal(left.keys, right.keys)
    np.testing.assert_allclose(left.units, right.units, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(left.effective_counts, right.effective_counts, rtol=1e-12)
    assert left.n_units == right.n_units


def _assert_same_intervals(local, other, design, seed=3):
    first = bootstrap_functionals(local.units, design.functionals, n_replicates=200, seed=seed, unit_keys=local.keys)
    second = bootstrap_functionals(other.units, design.functionals, n_replicates=200, seed=seed, unit_keys=other.keys)
    for name in ("point", "replicates", "standard_error", "percentile", "bca"):
        np.testing.assert_allclose(getattr(first, name), getattr(second, name), rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_array_equal(first.dropped, second.dropped)
    delta = delta_intervals(local.units, design.functionals).interval
    np.testing.assert_allclose(delta, delta_intervals(other.units, design.functionals).interval, rtol=1e-12)


# ------------------------------------------------------------------------------------ keys
def test_mix64_is_splitmix64():
    # The first two outputs of SplitMix64 seeded with 0 (Steele, Lea and Flood 2014).
    states = np.array([GOLDEN, (2 * GOLDEN) % 2**64], dtype=np.uint64)
    assert [hex(value) for value in mix64(states)] == ["0xe220a8397b1dcdaf", "0x6e789e6aa1b965f4"]
    assert mix64_scalar(GOLDEN) == 0xE220A8397B1DCDAF


def test_unit_keys_are_pinned_and_the_same_for_every_container():
    ints = unit_keys(np.array([0, 1, 2**40, -1], dtype=np.int64))
    assert [hex(value) for value in ints] == [
        "0x0", "0x5692161d100b05e5", "0xab4daf7c2673f8", "0xb4d055fcf2cbbd7b",
    ]
    strings = unit_keys(["", "a", "user-1", "ü"])
    assert [hex(value) for value in strings] == [
        "0xf52a15e9a9b5e89b", "0x2c0bdbf481420f8", "0xc499b5f8a721df58", "0x772d5ffdbcb8f81a",
    ]
    np.testing.assert_array_equal(unit_keys(np.array([5, 6], dtype=np.int32)), unit_keys([5, 6]))
    np.testing.assert_array_equal(unit_keys(pl.Series(["a", "b"])), unit_keys(np.array(["a", "b"], dtype=object)))
    np.testing.assert_array_equal(unit_keys(pa.chunked_array([["a"], ["b"]])), unit_keys(["a", "b"]))


def test_string_keys_are_fnv1a_of_the_utf8_bytes():
    def fnv1a(text: str) -> int:
        value = 0xCBF29CE484222325
        for byte in text.encode():
            value = ((value ^ byte) * 0x100000001B3) & (2**64 - 1)
        return value

    texts = ["", "x", "user-12345", "日本語", "a" * 70, "b"]
    expected = mix64(np.array([fnv1a(text) for text in texts], dtype=np.uint64))
    np.testing.assert_array_equal(unit_keys(texts), expected)


def test_blocks_spread_units_evenly_and_depend_on_the_seed():
    keys = unit_keys(np.arange(200_000))
    blocks = block_of(keys, seed=0, blocks=1000)
    counts = np.bincount(blocks, minlength=1000)
    assert counts.min() > 120 and counts.max() < 290  # Poisson(200): 5.6 standard deviations
    assert np.mean(block_of(keys, seed=1, blocks=1000) == blocks) < 0.01


def test_poisson_weights_of_a_unit_depend_on_its_key_seed_and_replicate_only():
    keys = unit_keys(np.arange(50))
    weights = poisson_weights(keys, 40, seed=9)
    np.testing.assert_array_equal(poisson_weights(keys[::-1], 40, seed=9), weights[:, ::-1])
    np.testing.assert_array_equal(poisson_weights(keys[10:20], 40, seed=9), weights[:, 10:20])
    np.testing.assert_array_equal(poisson_weights(keys, 13, seed=9), weights[:13])  # a prefix of replicates
    assert not np.array_equal(poisson_weights(keys, 40, seed=10), weights)


# ------------------------------------------------------------------------------------ partitions
CASES = [
    pytest.param(True, None, id="users"),
    pytest.param(True, 2_000, id="users-in-blocks"),
    pytest.param(False, 512, id="events-in-blocks"),
]


@pytest.fixture(scope="module")
def log() -> pa.Table:
    return _log()


@pytest.mark.parametrize(("clustered", "max_units"), CASES)
def test_one_partition_or_many_give_the_local_units_and_intervals(log, clustered, max_units):
    layout = _layout(clustered)
    local, design = _local(log, layout, max_units=max_units)
    shuffled = log.take(np.random.default_rng(1).permutation(log.num_rows))
    for table, rows in ((log, log.num_rows), (shuffled, 7_919), (log, 1_000)):
        merged = merge_unit_sums(
            (partial_unit_sums(batch, layout, seed=0, max_units=max_units) for batch in batches_of(table, rows)),
            max_units=max_units,
        )
        _assert_same_units(local, merged)
    _assert_same_intervals(local, merged, design)


def test_duckdb_partitions_give_the_local_units(log, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "log.parquet"
    pq.write_table(log, path, row_group_size=6_000)
    layout = _layout(True)
    local, design = _local(log, layout, max_units=3_000)
    reader = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_reader(10_000)
    merged = merge_unit_sums((partial_unit_sums(batch, layout, seed=0, max_units=3_000) for batch in reader), max_units=3_000)
    _assert_same_units(local, merged)
    _assert_same_intervals(local, merged, design)


def test_events_below_the_block_limit_are_themselves(log):
    layout = _layout(False)
    small = log.slice(0, 3_000)
    local, design = _local(small, layout, max_units=65_536)
    assert local.units.shape == (3_000, len(design.columns))
    order = np.argsort(unit_keys(small.column("event_id")))
    columns = {name: small.column(name).to_numpy() for name in layout.columns if name != "event_id"}
    np.testing.assert_array_equal(local.units, layout.design(columns).statistics()[order])


def test_an_evaluation_does_not_depend_on_the_order_of_rows(log):
    frame = pl.from_arrow(log)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=5)

    def run(rows: pl.DataFrame, resample: str):
        return evaluate_arrays(
            propensity=rows["propensity"].to_numpy(),
            policies={"target": rows["p_target"].to_numpy()},
            rewards={"click": rows["click"].to_numpy()},
            users=rows["user_id"].to_numpy(),
            events=rows["event_id"].to_numpy(),
            config=EvaluationConfig(
                n_replicates=200, estimators=("ips", "snips"), max_units=3_000, resample=resample
            ),
        ).estimates.sort("policy", "metric", "estimator", "quantity")

    for resample in ("users", "events"):
        first, second = run(frame, resample), run(shuffled, resample)
        for column in ("point", "lower", "upper", "bca_lower", "bca_upper", "delta_lower", "standard_error"):
            np.testing.assert_allclose(first[column].to_numpy(), second[column].to_numpy(), rtol=1e-12, err_msg=column)


# ------------------------------------------------------------------------------------ Spark
@pytest.mark.spark
@pytest.mark.parametrize(("clustered", "max_units"), CASES)
def test_spark_partitions_give_the_local_intervals(log, spark_engine, tmp_path, clustered, max_units):
    path = tmp_path / "log.parquet"
    pq.write_table(log, path, row_group_size=10_000)
    session = spark_engine.session()
    frame = session.read.parquet(str(path)).repartition(5)  # rows scattered over 5 partitions
    layout = _layout(clustered)
    local, design = _local(log, layout, max_units=max_units)
    on_spark = spark_resampling_units(frame, layout, max_units=max_units, seed=0)
    _assert_same_units(local, on_spark)
    _assert_same_intervals(local, on_spark, design)

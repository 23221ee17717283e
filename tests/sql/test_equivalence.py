"""DuckDB and Spark give the same rows: hand-made edge cases and a 200k-row simulated log.

Each edge case checks both engines against rows worked out by hand (``engine`` fixture), and
the two engines against each other (``@pytest.mark.spark`` tests), so neither a shared mistake
nor a divergence goes unseen.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from same_rows import assert_same_rows

from offline_rl.data.engines.spark_engine import SparkEngine
from offline_rl.data.prepare import PrepareConfig, signal_responses
from offline_rl.data.sql_jobs import run_sql_job, write_sql_job
from offline_rl.simulators import simulate_logs, write_simulation

T0 = dt.datetime(2026, 11, 1, 8, 0, 0, 100000, tzinfo=dt.UTC)
SIGNALS = ["click", "like", "none", "dislike"]
UTC_MICROSECONDS = pl.Datetime("us", "UTC")


def _logs(rows: list[tuple], *, ts_type: pl.DataType = UTC_MICROSECONDS) -> pl.DataFrame:
    """rows: (event_id, ts, user_id, context, candidate_actions, action, propensity, feedback)."""
    columns = ["event_id", "ts", "user_id", "context", "candidate_actions", "action", "propensity", "feedback"]
    frame = pl.DataFrame(
        {name: [row[index] for row in rows] for index, name in enumerate(columns)},
        schema_overrides={"context": pl.List(pl.Float32), "candidate_actions": pl.List(pl.Int64)},
    )
    return frame.with_columns(pl.col("ts").cast(UTC_MICROSECONDS).cast(ts_type))


def _steps(gaps_us: list[int], *, user_id: int = 1, first_event: int = 1) -> list[tuple]:
    """One user's decisions separated by the given gaps (microseconds), starting at T0."""
    times = np.cumsum([0, *gaps_us]).tolist()
    return [
        (first_event + index, T0 + dt.timedelta(microseconds=offset), user_id, [float(index)], [5, 6], 5 + index % 2, 0.5,
         SIGNALS[index % len(SIGNALS)])
        for index, offset in enumerate(times)
    ]


def _trajectories(logs: pl.DataFrame, engine, *, gap: float = 1800.0, history_length: int = 2) -> pl.DataFrame:
    config = PrepareConfig(history_length=history_length, session_gap_seconds=gap)
    views = {"logs": logs, "signal_responses": signal_responses(SIGNALS, config.negative_signals)}
    return pl.from_arrow(run_sql_job("user_trajectories", views, config.sql_params(), engine=engine))


SECOND = 1_000_000

# (session gap in seconds, gaps between consecutive events in microseconds, expected sessions).
# A gap longer than the threshold starts a session; an equal one does not. T0 is 0.1 s past a
# whole second; "whole seconds" is what EPOCH used to become on Spark (UNIX_TIMESTAMP), which
# gets the rows marked (!) wrong.
THRESHOLD_CASES = [
    (
        1800.0,
        [1799 * SECOND + 900_000,  # 1799.9 s: same session
         1800 * SECOND,             # exactly 1800 s: same
         1800 * SECOND + 500_000,   # 1800.5 s: new (!) whole seconds read 1800
         1800 * SECOND + 1,         # 1 microsecond over: new (!) whole seconds read 1800
         1799 * SECOND + 999_999,   # 1 microsecond under: same
         0],                        # a tie in ts, ordered by event_id: same
        [0, 0, 0, 1, 2, 2, 2],
    ),
    (
        1800.5,
        [1799 * SECOND + 800_000,  # 1799.8 s, to 0.9 s past a second: same
         1800 * SECOND + 200_000,   # 1800.2 s: same (!) whole seconds read 1801 > 1800.5
         1800 * SECOND + 600_000,   # 1800.6 s: new (!) whole seconds read 1800
         1800 * SECOND + 500_000],  # exactly 1800.5 s: same (!) whole seconds read 1801
        [0, 0, 0, 1, 1],
    ),
]


@pytest.mark.parametrize(("gap", "gaps_us", "sessions"), THRESHOLD_CASES)
def test_sessions_cut_at_fractional_gaps(engine, gap, gaps_us, sessions):
    result = _trajectories(_logs(_steps(gaps_us)), engine, gap=gap)
    assert result["session_id"].to_list() == sessions
    assert result["event_id"].to_list() == list(range(1, len(sessions) + 1))


def test_whole_second_gaps_would_have_cut_differently():
    """The old rule's arithmetic on these timestamps, as Spark ran it: the cases above are the
    ones where whole seconds and microseconds disagree, so they test the rewrite."""
    disagreements = 0
    for gap, gaps_us, _ in THRESHOLD_CASES:
        times = T0.timestamp() * SECOND + np.cumsum([0, *gaps_us])
        exact = np.diff(times) > gap * SECOND
        whole_seconds = np.diff(np.floor(times / SECOND)) > gap
        disagreements += int((exact != whole_seconds).sum())
    assert disagreements == 5


IK_EDGE_LOGS = _logs(
    [
        # The action is missing from its candidate set (validation refuses such rows; the mart
        # must still agree): action_index is NULL on both engines, not -1 on Spark.
        (1, T0, 1, [], [10, 20], 30, 0.5, "click"),
        # Empty context, one candidate.
        (2, T0, 1, [], [7], 7, 1.0, "none"),
        # The action is the last candidate.
        (3, T0 + dt.timedelta(seconds=1), 2, [0.25, -1.5], [4, 3, 2, 1], 1, 0.25, "like"),
    ]
)


def test_missing_action_and_empty_context(engine):
    result = pl.from_arrow(run_sql_job("ik_training_set", {"logs": IK_EDGE_LOGS}, {"max_weight": None}, engine=engine))
    assert result["action_index"].to_list() == [None, 0, 3]
    assert result["context"].to_list() == [[], [], [0.25, -1.5]]
    assert result["raw_weight"].to_list() == [1.0, 1.0, 1.0]
    failing = run_sql_job("assert_ik_training_set_valid", {"ik_training_set": result}, engine=engine)
    assert failing.column("event_id").to_pylist() == [1]


def test_nulls_that_validation_allows(engine):
    """action_probs and reward may be NULL in a log; staging drops both, so the marts do not
    change. A signal missing from signal_responses counts as positive (response 1)."""
    logs = _logs(_steps([60 * SECOND, 60 * SECOND]))
    with_nulls = logs.with_columns(
        pl.Series("action_probs", [None, [0.5, 0.5], None], pl.List(pl.Float64)),
        pl.Series("reward", [None, 1.0, None], pl.Float64),
        pl.Series("feedback", ["click", "unheard-of", "none"]),
    )
    result = _trajectories(with_nulls, engine)
    assert result["response"].to_list() == [1, 1, 0]
    assert result.columns == _trajectories(logs, engine).columns
    ik = pl.from_arrow(run_sql_job("ik_training_set", {"logs": with_nulls}, {"max_weight": None}, engine=engine))
    assert "reward" not in ik.columns and "action_probs" not in ik.columns


DECODED_WITH_NULLS = pl.DataFrame(
    {
        "event_id": [1, 2, 3, 4, 5],
        "user_id": [1, 1, 2, 3, 4],
        "feedback": ["click", "click", "click", "none", "none"],
        "k_p_hat": [3.0, None, 1.0, 0.5, 2.5],
        "is_extreme": [True, None, False, False, True],
        "decoded_reward": [1.0, None, 0.0, 0.0, -1.0],
    }
)


def test_analysis_with_nulls(engine):
    by_signal = pl.from_arrow(run_sql_job("decoded_reward_by_signal", {"decoded_rewards": DECODED_WITH_NULLS}, engine=engine))
    # NULL rewards are skipped by AVG but count as neither positive nor negative in the shares.
    assert by_signal.to_dicts() == [
        {"feedback": "click", "events": 3, "mean_decoded_reward": 0.5, "positive_share": 1 / 3,
         "negative_share": 0.0, "zero_share": 1 / 3, "mean_k_p_hat": 2.0},
        {"feedback": "none", "events": 2, "mean_decoded_reward": -0.5, "positive_share": 0.0,
         "negative_share": 0.5, "zero_share": 0.5, "mean_k_p_hat": 1.5},
    ]
    segments = pl.DataFrame({"user_id": [1, 2, 3], "segment": ["a", None, "b"]})
    by_segment = pl.from_arrow(
        run_sql_job("extreme_rate_by_segment", {"decoded_rewards": DECODED_WITH_NULLS, "user_segments": segments}, engine=engine)
    )
    assert by_segment.select("segment", "feedback", "events", "extreme_events").rows() == [
        ("a", "click", 2, 1), ("all", "click", 1, 0), ("all", "none", 1, 1), ("b", "none", 1, 0),
    ]


def test_time_zones_and_naive_timestamps(engine):
    """The same instants written in UTC, in Europe/Paris across its DST change, and as naive
    UTC give the same trajectories: naive means UTC on both engines, whatever the machine's zone."""
    # 00:30 UTC is 02:30 in Paris, where clocks go back from 03:00 to 02:00 at 01:00 UTC:
    # Paris wall-clock times of these events run 02:30, 02:55, 02:20, 02:45, 03:50.
    start = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    rows = [
        (index + 1, start + dt.timedelta(minutes=minutes), 1, [1.0], [5, 6], 5, 0.5, "click")
        for index, minutes in enumerate([0, 25, 50, 75, 140])
    ]
    utc = _trajectories(_logs(rows), engine)
    assert utc["session_id"].to_list() == [0, 0, 0, 0, 1]
    for ts_type in (pl.Datetime("us", "Europe/Paris"), pl.Datetime("us"), pl.Datetime("ns", "America/New_York")):
        assert_same_rows(utc, _trajectories(_logs(rows, ts_type=ts_type), engine))


def test_naive_timestamps_in_parquet_are_utc(engine, tmp_path):
    rows = [(index + 1, T0 + dt.timedelta(minutes=40 * index), 1, [1.0], [5, 6], 6, 0.5, "none") for index in range(3)]
    path = tmp_path / "naive.parquet"
    _logs(rows, ts_type=pl.Datetime("us")).write_parquet(path)
    result = pl.from_arrow(run_sql_job("ik_training_set", {"logs": path}, {"max_weight": None}, engine=engine))
    assert result["ts"].to_list() == [row[1] for row in rows]


def test_string_ids_and_ties(engine):
    """String ids order byte-wise on both engines; equal timestamps are ordered by event_id."""
    rows = [
        ("e10", T0, "u-b", [1.0], [5, 6], 5, 0.5, "click"),
        ("e9", T0, "u-b", [1.0], [5, 6], 6, 0.5, "none"),
        ("E1", T0, "u-a", [1.0], [5, 6], 6, 0.5, "like"),
    ]
    result = _trajectories(_logs(rows), engine, history_length=1)
    assert result["event_id"].to_list() == ["E1", "e10", "e9"]
    assert result["history_items"].to_list() == [[], [], [5]]


def test_empty_log(engine):
    empty = _logs(_steps([60 * SECOND])).clear()
    result = _trajectories(empty, engine)
    assert result.height == 0
    assert result.columns == _trajectories(_logs(_steps([60 * SECOND])), engine).columns


# --------------------------------------------------------------------- DuckDB against Spark
EDGE_INPUTS = {
    "thresholds": lambda: _logs(_steps(THRESHOLD_CASES[0][1]) + _steps(THRESHOLD_CASES[1][1], user_id=2, first_event=10)),
    "ik_edges": lambda: IK_EDGE_LOGS,
}


@pytest.mark.spark
@pytest.mark.parametrize("name", EDGE_INPUTS)
@pytest.mark.parametrize("job", ["ik_training_set", "user_trajectories"])
def test_engines_agree_on_edge_cases(duckdb_engine, spark_engine, name, job):
    logs = EDGE_INPUTS[name]()
    config = PrepareConfig(history_length=3, session_gap_seconds=1800.0)
    views = {"logs": logs, "signal_responses": signal_responses(SIGNALS, config.negative_signals)}
    assert_same_rows(
        run_sql_job(job, views, config.sql_params(), engine=duckdb_engine),
        run_sql_job(job, views, config.sql_params(), engine=spark_engine),
    )


SIMULATED_ROWS = 200_000


@pytest.fixture(scope="module")
def simulated_logs(tmp_path_factory):
    """200k decisions of the production simulator (IGL-P Sec. 4.3), written as Parquet."""
    folder = tmp_path_factory.mktemp("production")
    write_simulation(simulate_logs("production", rows=SIMULATED_ROWS, seed=0), folder)
    return folder / "logs.parquet"


@pytest.mark.spark
def test_engines_agree_on_a_simulated_log(simulated_logs, duckdb_engine, spark_engine, tmp_path):
    """Both marts on 200k simulated rows, written by each engine to Parquet: the same rows
    in the same order, and the data tests pass on Spark's output. Spark sorts into 8 shuffle
    partitions here, so the one-file write must keep the order across them."""
    spark_engine = SparkEngine(session=spark_engine.session(), conf={"spark.sql.shuffle.partitions": "8"})
    config = PrepareConfig()
    views = {"logs": simulated_logs, "signal_responses": signal_responses(SIGNALS, config.negative_signals)}
    for mart in ("ik_training_set", "user_trajectories"):
        written = {}
        for engine in (duckdb_engine, spark_engine):
            path = tmp_path / engine.name / f"{mart}.parquet"
            assert write_sql_job(mart, views, path, config.sql_params(), engine=engine) == SIMULATED_ROWS
            written[engine.name] = pl.read_parquet(path)
        assert_same_rows(written["duckdb"], written["spark"])
        check = f"assert_{mart}_valid"
        assert run_sql_job(check, {mart: tmp_path / "spark" / f"{mart}.parquet"}, engine=spark_engine).num_rows == 0
    trajectories = written["spark"]
    # The log has several sessions per user and full histories: the comparison covered both.
    assert trajectories["session_id"].max() > 0
    assert trajectories["history_items"].list.len().max() == config.history_length


@pytest.mark.spark
def test_engines_agree_on_the_analysis_of_a_simulated_log(simulated_logs, duckdb_engine, spark_engine):
    """Averages over ~50k rows per group: equal to 1e-9 although the engines sum in another order."""
    logs = pl.read_parquet(simulated_logs, columns=["event_id", "user_id", "feedback", "candidate_actions"])
    rng = np.random.default_rng(0)
    k_p_hat = rng.gamma(2.0, 1.0, logs.height) * logs["candidate_actions"].list.len().to_numpy() / 20
    decoded = logs.select("event_id", "user_id", "feedback").with_columns(
        pl.Series("k_p_hat", k_p_hat),
        pl.Series("is_extreme", k_p_hat > 2),
        pl.Series("decoded_reward", np.where(k_p_hat > 2, rng.choice([1.0, -1.0], logs.height), 0.0)),
    )
    segments = pl.DataFrame({"user_id": np.arange(0, 1000, 3), "segment": ["third"] * len(range(0, 1000, 3))})
    views = {"decoded_rewards": decoded, "user_segments": segments}
    for job in ("decoded_reward_by_signal", "extreme_rate_by_segment"):
        assert_same_rows(run_sql_job(job, views, engine=duckdb_engine), run_sql_job(job, views, engine=spark_engine))

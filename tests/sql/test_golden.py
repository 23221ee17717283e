"""Golden-file tests: each SQL job on a small fixture whose expected rows were worked out by hand.

Every test runs on both engines (the ``engine`` fixture of ``conftest.py``): DuckDB in
``make test``, Spark in ``make test-spark``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.data.prepare import PrepareConfig, signal_responses
from offline_rl.data.sql_jobs import run_sql_job

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def _logs(rows: list[tuple]) -> pl.DataFrame:
    """rows: (event_id, minutes after T0, user_id, candidate_actions, action, propensity, feedback)."""
    return pl.DataFrame(
        {
            "event_id": [row[0] for row in rows],
            "ts": [T0 + dt.timedelta(minutes=row[1]) for row in rows],
            "user_id": [row[2] for row in rows],
            "context": [[float(row[0])] for row in rows],
            "candidate_actions": [row[3] for row in rows],
            "action": [row[4] for row in rows],
            "propensity": [row[5] for row in rows],
            "feedback": [row[6] for row in rows],
            "reward": [1.0] * len(rows),
        },
        schema_overrides={"context": pl.List(pl.Float32), "ts": pl.Datetime("us", "UTC")},
    )


IK_LOGS = _logs(
    [
        # K = 3, P = 0.5: w = 1 / (3 * 0.5) = 2/3, the action sits at position 1.
        (2, 10, 7, [10, 20, 30], 20, 0.5, "click"),
        # K = 2, P = 0.1: w = 1 / (2 * 0.1) = 5, clipped at 4 when max_weight = 4.
        (1, 5, 8, [1, 2], 1, 0.1, "none"),
        # K = 1, P = 1: w = 1.
        (3, 15, 7, [7], 7, 1.0, "like"),
        # K = 4, uniform P = 0.25: w = 1.
        (4, 15, 9, [4, 3, 2, 1], 1, 0.25, "dislike"),
    ]
)


@pytest.mark.parametrize(("max_weight", "clipped"), [(None, 5.0), (4.0, 4.0)])
def test_ik_training_set_golden(engine, max_weight, clipped):
    result = pl.from_arrow(
        run_sql_job("ik_training_set", {"logs": IK_LOGS}, {"max_weight": max_weight}, engine=engine)
    )
    expected = pl.DataFrame(
        {
            "event_id": [1, 2, 3, 4],
            "user_id": [8, 7, 7, 9],
            "feedback": ["none", "click", "like", "dislike"],
            "num_candidates": [2, 3, 1, 4],
            "action": [1, 20, 7, 1],
            "action_index": [0, 1, 0, 3],
            "propensity": [0.1, 0.5, 1.0, 0.25],
            "raw_weight": [5.0, 2.0 / 3.0, 1.0, 1.0],
            "weight": [clipped, 2.0 / 3.0, 1.0, 1.0],
        }
    )
    assert_frame_equal(result.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)
    assert result.columns == [
        "event_id", "ts", "user_id", "context", "feedback", "candidate_actions", "num_candidates",
        "action", "action_index", "propensity", "raw_weight", "weight",
    ]


TRAJECTORY_LOGS = _logs(
    [
        # user 1: three steps 10 minutes apart, then a 2-hour gap, then one more step.
        (11, 0, 1, [5, 6], 5, 0.5, "click"),
        (12, 10, 1, [5, 6], 6, 0.5, "none"),
        (13, 20, 1, [5, 6], 5, 0.5, "like"),
        (14, 140, 1, [5, 6], 6, 0.5, "dislike"),
        # user 2: one step only.
        (21, 3, 2, [5, 6], 6, 0.5, "click"),
    ]
)


def test_user_trajectories_golden(engine):
    config = PrepareConfig(history_length=2, session_gap_seconds=1800)
    views = {
        "logs": TRAJECTORY_LOGS,
        "signal_responses": signal_responses(["click", "like", "none", "dislike"], config.negative_signals),
    }
    result = pl.from_arrow(run_sql_job("user_trajectories", views, config.sql_params(), engine=engine))
    expected = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2],
            "session_id": [0, 0, 0, 1, 0],
            "step": [0, 1, 2, 0, 0],
            "event_id": [11, 12, 13, 14, 21],
            "item": [5, 6, 5, 6, 6],
            "response": [1, 0, 1, 0, 1],
            "history_items": [[], [5], [5, 6], [], []],
            "history_responses": [[], [1], [1, 0], [], []],
            "next_event_id": [12, 13, None, None, None],
            "next_item": [6, 5, None, None, None],
            "next_history_items": [[5], [5, 6], [6, 5], [6], [6]],
            "next_history_responses": [[1], [1, 0], [0, 1], [0], [1]],
            "done": [False, False, True, True, True],
        },
        schema_overrides={"history_items": pl.List(pl.Int64), "history_responses": pl.List(pl.Int64)},
    )
    assert_frame_equal(result.select(expected.columns), expected)


DECODED = pl.DataFrame(
    {
        "event_id": [1, 2, 3, 4, 5, 6],
        "user_id": [1, 1, 2, 2, 3, 3],
        "feedback": ["click", "dislike", "click", "none", "click", "dislike"],
        "k_p_hat": [3.0, 2.5, 1.0, 0.5, 2.0, 4.0],
        "is_extreme": [True, True, False, False, False, True],
        "decoded_reward": [1.0, -2.0, 0.0, 0.0, 0.0, -2.0],
    }
)
SEGMENTS = pl.DataFrame({"user_id": [1, 2], "segment": ["bizarro", "normal"]})


def test_extreme_rate_by_segment_golden(engine):
    result = pl.from_arrow(
        run_sql_job(
            "extreme_rate_by_segment", {"decoded_rewards": DECODED, "user_segments": SEGMENTS}, engine=engine
        )
    )
    expected = pl.DataFrame(
        {
            # user 3 is in no segment, so falls in 'all'.
            "segment": ["all", "all", "bizarro", "bizarro", "normal", "normal"],
            "feedback": ["click", "dislike", "click", "dislike", "click", "none"],
            "events": [1, 1, 1, 1, 1, 1],
            "extreme_events": [0, 1, 1, 1, 0, 0],
            "extreme_rate": [0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
            "mean_k_p_hat": [2.0, 4.0, 3.0, 2.5, 1.0, 0.5],
        }
    )
    assert_frame_equal(result, expected, check_exact=False, rel_tol=1e-12)


def test_decoded_reward_by_signal_golden(engine):
    result = pl.from_arrow(run_sql_job("decoded_reward_by_signal", {"decoded_rewards": DECODED}, engine=engine))
    expected = pl.DataFrame(
        {
            "feedback": ["click", "dislike", "none"],
            "events": [3, 2, 1],
            "mean_decoded_reward": [1.0 / 3.0, -2.0, 0.0],
            "positive_share": [1.0 / 3.0, 0.0, 0.0],
            "negative_share": [0.0, 1.0, 0.0],
            "zero_share": [2.0 / 3.0, 0.0, 1.0],
            "mean_k_p_hat": [2.0, 3.25, 0.5],
        }
    )
    # Shares are DOUBLE on both engines: 1/3 to the last bit, not DECIMAL's 0.33333.
    assert_frame_equal(result, expected, check_exact=False, rel_tol=1e-12)


def test_data_tests_pass_on_sound_marts_and_catch_broken_rows(engine):
    marts = pl.from_arrow(run_sql_job("ik_training_set", {"logs": IK_LOGS}, {"max_weight": 4.0}, engine=engine))
    assert run_sql_job("assert_ik_training_set_valid", {"ik_training_set": marts}, engine=engine).num_rows == 0
    # event 3 gets a negative index, event 4 the NULL index of an action missing from its set.
    broken = marts.with_columns(
        pl.when(pl.col("event_id") == 3).then(-1)
        .when(pl.col("event_id") == 4).then(None)
        .otherwise(pl.col("action_index")).alias("action_index")
    )
    failing = run_sql_job("assert_ik_training_set_valid", {"ik_training_set": broken}, engine=engine)
    assert sorted(failing.column("event_id").to_pylist()) == [3, 4]


def test_trajectory_data_test_passes_on_the_mart_and_catches_broken_steps(engine):
    config = PrepareConfig(history_length=2, session_gap_seconds=1800)
    views = {
        "logs": TRAJECTORY_LOGS,
        "signal_responses": signal_responses(["click", "like", "none", "dislike"], config.negative_signals),
    }
    trajectories = pl.from_arrow(run_sql_job("user_trajectories", views, config.sql_params(), engine=engine))
    check = "assert_user_trajectories_valid"
    assert run_sql_job(check, {"user_trajectories": trajectories}, engine=engine).num_rows == 0
    # event 12 claims to end its session although a next item follows; event 21 answers 2.
    broken = trajectories.with_columns(
        pl.when(pl.col("event_id") == 12).then(True).otherwise(pl.col("done")).alias("done"),
        pl.when(pl.col("event_id") == 21).then(2).otherwise(pl.col("response")).alias("response"),
    )
    failing = run_sql_job(check, {"user_trajectories": broken}, engine=engine)
    assert sorted(failing.column("event_id").to_pylist()) == [12, 21]

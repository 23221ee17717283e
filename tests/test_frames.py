"""The columns the learners read: every one of the wrong type is refused with its name and rule,
whether the frame is ik_training_set rows (IGL-P, the bandit) or user_trajectories rows
(QR-IQL, the MTRec classifier)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.frames import COLUMN_TYPES, check_frame
from offline_rl.simulators import simulate_logs


def variable_k_frame(n: int = 60, seed: int = 0) -> pl.DataFrame:
    """An ik_training_set-shaped frame whose candidate sets vary in size (2..5)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 6, n)
    candidates = [sorted(rng.choice(20, size=int(ki), replace=False).tolist()) for ki in k]
    index = [int(rng.integers(0, len(c))) for c in candidates]
    return pl.DataFrame({
        "event_id": np.arange(n, dtype=np.int64),
        "user_id": rng.integers(0, 4, n).astype(np.int64),
        "context": pl.Series(rng.normal(size=(n, 3)).astype(np.float32).tolist(), dtype=pl.List(pl.Float32)),
        "feedback": rng.choice(["none", "click", "dislike"], n).tolist(),
        "candidate_actions": pl.Series(candidates, dtype=pl.List(pl.Int64)),
        "action": np.array([c[i] for c, i in zip(candidates, index, strict=True)]),
        "action_index": np.array(index, dtype=np.int64),
        "propensity": 1.0 / k,
        "weight": np.ones(n),
    })


def trajectories_frame() -> pl.DataFrame:
    sim = simulate_logs("sessions", rows=200, seed=0, n_users=8, n_items=15)
    return user_trajectories(drop_hidden_reward(pl.from_arrow(sim.logs)))


#: (column, a wrongly typed value, the rule the message must state)
WRONG_TYPES = [
    ("user_id", pl.col("user_id").cast(pl.Float64), "an integer or string id"),
    ("feedback", pl.lit(1), "a string signal"),
    ("candidate_actions", pl.lit(3), "a list of integer action ids"),
    ("candidate_actions", pl.col("candidate_actions").cast(pl.List(pl.String)),
     "a list of integer action ids"),
    ("action", pl.col("action").cast(pl.String), "an integer action id"),
    ("action_index", pl.col("action_index").cast(pl.Float64), "an integer position"),
    ("context", pl.lit("x"), "a list of numbers"),
    ("context", pl.col("context").cast(pl.List(pl.String)), "a list of numbers"),
    ("weight", pl.lit("1.0"), "a number"),
    ("propensity", pl.lit(True), "a number"),
    ("event_id", pl.col("event_id").cast(pl.Float64), "an integer or string id"),
]

#: The same for user_trajectories rows.
TRAJECTORY_WRONG_TYPES = [
    ("session_id", pl.col("session_id").cast(pl.Float64), "an integer or string id"),
    ("step", pl.col("step").cast(pl.String), "an integer position in the session"),
    ("item", pl.col("item").cast(pl.Float64), "an integer or string item id"),
    ("next_item", pl.lit(0.5), "an integer or string item id"),
    ("next_event_id", pl.lit(True), "an integer or string id"),
    ("response", pl.col("response").cast(pl.String), "an integer response code"),
    ("history_items", pl.lit(3), "a list of integer or string item ids"),
    ("history_items", pl.col("history_items").cast(pl.List(pl.Float64)), "a list of integer or string item ids"),
    ("next_history_items", pl.lit("x"), "a list of integer or string item ids"),
    ("history_responses", pl.col("history_responses").cast(pl.List(pl.String)), "a list of integer response codes"),
    ("next_history_responses", pl.lit(1), "a list of integer response codes"),
    ("done", pl.col("done").cast(pl.Int64), "a boolean"),
]


def test_every_declared_column_has_a_bad_input_case():
    assert {column for column, _, _ in WRONG_TYPES + TRAJECTORY_WRONG_TYPES} == set(COLUMN_TYPES)


@pytest.mark.parametrize(("column", "value", "rule"), WRONG_TYPES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(WRONG_TYPES)])
def test_wrongly_typed_column(column, value, rule):
    frame = variable_k_frame().with_columns(value.alias(column))
    with pytest.raises(ValueError, match=rf"^IGLP.fit: column '{column}' must be {rule}.*; got "):
        check_frame(frame, [], where="IGLP.fit")


@pytest.mark.parametrize(("column", "value", "rule"), TRAJECTORY_WRONG_TYPES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TRAJECTORY_WRONG_TYPES)])
def test_wrongly_typed_trajectory_column(column, value, rule):
    frame = trajectories_frame().with_columns(value.alias(column))
    with pytest.raises(ValueError, match=rf"^QRIQL.fit: column '{column}' must be {rule}.*; got "):
        check_frame(frame, [], where="QRIQL.fit")


def test_user_trajectories_as_prepared_pass():
    check_frame(trajectories_frame(), ["user_id", "history_items", "done"], where="QRIQL.fit")


def test_accepted_variants():
    """String ids, categorical signals, fixed-size arrays: what the SQL jobs and users write."""
    frame = variable_k_frame().with_columns(
        pl.format("u{}", "user_id").alias("user_id"),
        pl.col("feedback").cast(pl.Categorical),
        pl.col("context").list.to_array(3),
        pl.col("action_index").cast(pl.Int32),
        pl.col("weight").cast(pl.Float32),
    )
    check_frame(frame, ["user_id", "feedback", "candidate_actions"], where="IGLP.fit")


def test_not_a_frame_and_missing_columns():
    with pytest.raises(ValueError, match=r"IGLP.fit expects a polars.DataFrame, got dict"):
        check_frame({"user_id": [1]}, ["user_id"], where="IGLP.fit")
    with pytest.raises(ValueError, match=r"IGLP.predict: unable to find column\(s\) \['user_id'\]"):
        check_frame(variable_k_frame().drop("user_id"), ["user_id"], where="IGLP.predict")

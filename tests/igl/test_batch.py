"""The columns IGL-P reads: every one of the wrong type is refused with its name and rule."""

from __future__ import annotations

import polars as pl
import pytest
from igl_fixtures import variable_k_frame

from offline_rl.igl.batch import COLUMN_TYPES, check_frame

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
]


def test_every_declared_column_has_a_bad_input_case():
    assert {column for column, _, _ in WRONG_TYPES} == set(COLUMN_TYPES)


@pytest.mark.parametrize(("column", "value", "rule"), WRONG_TYPES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(WRONG_TYPES)])
def test_wrongly_typed_column(column, value, rule):
    frame = variable_k_frame().with_columns(value.alias(column))
    with pytest.raises(ValueError, match=rf"^IGLP.fit: column '{column}' must be {rule}.*; got "):
        check_frame(frame, [], where="IGLP.fit")


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
    with pytest.raises(ValueError, match=r"IGLP.predict: unable to find column 'user_id'"):
        check_frame(variable_k_frame().drop("user_id"), ["user_id"], where="IGLP.predict")

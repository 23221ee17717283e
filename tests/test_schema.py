"""The one declaration of the canonical tables: everything else is derived from it."""

from __future__ import annotations

import polars as pl

from offline_rl.schema import IK_TRAINING_SET_TABLE, LOG_SCHEMA, LOG_TABLE


def test_arrow_schema_and_csv_columns_come_from_the_one_column_table():
    assert [field.name for field in LOG_SCHEMA] == [column.name for column in LOG_TABLE.columns]
    assert [field.type for field in LOG_SCHEMA] == [column.type.arrow for column in LOG_TABLE.columns]
    assert [field.nullable for field in LOG_SCHEMA] == [not column.required for column in LOG_TABLE.columns]
    # The canonical Arrow types read back as the canonical polars dtypes the loader casts to.
    canonical = pl.from_arrow(LOG_SCHEMA.empty_table()).schema
    for column in LOG_TABLE.columns:
        assert column.type.canonical(canonical[column.name]) == canonical[column.name], column.name
    assert set(LOG_TABLE.csv_overrides()) == {"ts", "context", "candidate_actions", "action_probs", "feedback"}


def test_shared_rules_are_the_same_objects_in_every_table():
    shared = [rule for rule in LOG_TABLE.rules if any(rule is other for other in IK_TRAINING_SET_TABLE.rules)]
    assert {rule.rule for rule in shared} >= {
        "'propensity in (0, 1]'",
        "'candidate_actions is a non-empty set'",
        "'action in candidate_actions'",
        "'every context has the same length'",
        "'feedback in the declared vocabulary'",
    }
    for table in (LOG_TABLE, IK_TRAINING_SET_TABLE):
        names = {column.name for column in table.columns}
        for rule in table.rules:
            assert rule.column in names and set(rule.needs) <= names, rule.rule

"""The checks every learner runs on the polars frame it is given, before reading a row.

One table, :data:`COLUMN_TYPES`, declares the type of every column a learner reads (IGL-P and
the contextual bandit read ``ik_training_set`` rows, QR-IQL and the MTRec classifier read
``user_trajectories`` rows), and :func:`check_frame` applies it, so a missing or wrongly typed
column is one ``ValueError`` naming the method called, the column, the rule and what was
found, whichever learner is called, instead of an error from inside polars or torch.

The files the toolkit reads are checked earlier and more thoroughly, row by row, against the
table declarations of :mod:`offline_rl.schema`; this check is the in-memory boundary of a
learner, which may be handed a frame built by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl


def _ids(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or _strings(dtype)


def _strings(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _integer(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


def _number(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _boolean(dtype: pl.DataType) -> bool:
    return dtype == pl.Boolean


def _lists(holds: Callable[[pl.DataType], bool]) -> Callable[[pl.DataType], bool]:
    # An all-null list column (e.g. every history empty) has inner type Null: accepted.
    return lambda dtype: isinstance(dtype, pl.List | pl.Array) and (
        dtype.inner == pl.Null or holds(dtype.inner))


#: The type of every column a learner reads: (the rule in words, the check). Columns not
#: listed are passed through or ignored.
COLUMN_TYPES: dict[str, tuple[str, Callable[[pl.DataType], bool]]] = {
    # ik_training_set (IGL-P, the contextual bandit)
    "user_id": ("an integer or string id", _ids),
    "event_id": ("an integer or string id", _ids),
    "feedback": ("a string signal", _strings),
    "candidate_actions": ("a list of integer action ids", _lists(_integer)),
    "action": ("an integer action id", _integer),
    "action_index": ("an integer position in candidate_actions", _integer),
    "context": ("a list of numbers", _lists(_number)),
    "weight": ("a number", _number),
    "propensity": ("a number", _number),
    # user_trajectories (QR-IQL, the MTRec classifier)
    "session_id": ("an integer or string id", _ids),
    "step": ("an integer position in the session", _integer),
    "item": ("an integer or string item id", _ids),
    "next_item": ("an integer or string item id", _ids),
    "next_event_id": ("an integer or string id", _ids),
    "response": ("an integer response code", _integer),
    "history_items": ("a list of integer or string item ids", _lists(_ids)),
    "next_history_items": ("a list of integer or string item ids", _lists(_ids)),
    "history_responses": ("a list of integer response codes", _lists(_integer)),
    "next_history_responses": ("a list of integer response codes", _lists(_integer)),
    "done": ("a boolean", _boolean),
}


def require_columns(frame: pl.DataFrame, columns: Sequence[str], *, where: str, hint: str = "") -> None:
    """Raise ``ValueError`` naming the missing columns and the valid ones (``hint`` appended)."""
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"{where} expects a polars.DataFrame, got {type(frame).__name__}.")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{where}: unable to find column(s) {missing}; valid columns: {frame.columns}."
                         + (f" {hint}" if hint else ""))


def check_frame(frame: pl.DataFrame, required: Sequence[str], *, where: str, hint: str = "") -> None:
    """Raise ``ValueError`` unless ``frame`` is a polars frame holding every ``required``
    column, and every column of :data:`COLUMN_TYPES` it holds has the declared type.

    The message names ``where`` (the method called), the column, the rule and what was found.
    """
    require_columns(frame, required, where=where, hint=hint)
    for column, dtype in frame.schema.items():
        if column in COLUMN_TYPES:
            rule, holds = COLUMN_TYPES[column]
            if not holds(dtype):
                raise ValueError(f"{where}: column {column!r} must be {rule}; got {dtype}.")


__all__ = ["COLUMN_TYPES", "check_frame", "require_columns"]

"""From an ``ik_training_set``-shaped polars frame to a typed numpy mini-batch.

The learner never parses files: it receives a polars frame (columns of the SQL mart
``ik_training_set``, see docs/data-contracts.md) and this module turns it into padded arrays
that the torch modules consume. Candidate sets may vary in size per row; they are padded to
the largest K in the frame and masked. Ids are mapped to dense indices through vocabularies
fitted on the training frame; index 0 is reserved for ids never seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

#: Index of every id (user, feedback signal, action) that was not seen during fit.
UNKNOWN = 0


@dataclass(frozen=True)
class Vocabulary:
    """Sorted distinct ids; ``index(values)`` maps them to 1..n and unknown ids to 0."""

    values: tuple[Any, ...]

    @classmethod
    def fit(cls, series: pl.Series) -> Vocabulary:
        unique = series.drop_nulls().unique().sort()
        return cls(tuple(unique.to_list()))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def size(self) -> int:
        """Number of embedding rows needed (the ids plus the unknown slot)."""
        return len(self.values) + 1

    def index(self, series: pl.Series) -> np.ndarray:
        if not self.values:
            return np.zeros(len(series), dtype=np.int64)
        kind = type(self.values[0])
        if kind is str:
            series = series.cast(pl.String)
            old = pl.Series(list(self.values), dtype=pl.String)
        else:
            series = series.cast(pl.Int64)
            old = pl.Series(list(self.values), dtype=pl.Int64)
        new = pl.Series(np.arange(1, len(self.values) + 1, dtype=np.int64))
        mapped = series.replace_strict(old, new, default=UNKNOWN, return_dtype=pl.Int64)
        return mapped.to_numpy().astype(np.int64, copy=False)

    def to_list(self) -> list[Any]:
        return list(self.values)


@dataclass(frozen=True)
class Batch:
    """Arrays for ``n`` rows padded to ``k_max`` candidates.

    Attributes
    ----------
    user, feedback : int64 (n,) vocabulary indices (0 = unknown).
    context : float32 (n, d) raw (unstandardised) context.
    candidates : int64 (n, k_max) action vocabulary indices, 0 in padding.
    mask : bool (n, k_max) True for real candidates.
    num_candidates : int64 (n,) K_t.
    action_index : int64 (n,) position of the logged action, -1 when unknown.
    weight : float32 (n,) importance weight (1 where the frame has none).
    """

    user: np.ndarray
    feedback: np.ndarray
    context: np.ndarray
    candidates: np.ndarray
    mask: np.ndarray
    num_candidates: np.ndarray
    action_index: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, rows: np.ndarray | slice) -> Batch:
        """Rows by index array (a copy) or by slice (views, no copy)."""
        return Batch(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})


def _ids(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or _strings(dtype)


def _strings(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _integer(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


def _number(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _integer_lists(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array) and dtype.inner.is_integer()


def _number_lists(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array) and dtype.inner.is_numeric()


#: The type of every column IGL-P reads: (the rule in words, the check). Other columns are
#: ignored (``event_id`` is passed through by ``IGLP.decode``).
COLUMN_TYPES: dict[str, tuple[str, Any]] = {
    "user_id": ("an integer or string id", _ids),
    "feedback": ("a string signal", _strings),
    "candidate_actions": ("a list of integer action ids", _integer_lists),
    "action": ("an integer action id", _integer),
    "action_index": ("an integer position in candidate_actions", _integer),
    "context": ("a list of numbers", _number_lists),
    "weight": ("a number", _number),
    "propensity": ("a number", _number),
}


def check_frame(frame: pl.DataFrame, required: Sequence[str], *, where: str) -> None:
    """Raise ``ValueError`` unless ``frame`` is a polars frame holding every ``required``
    column, and every column of :data:`COLUMN_TYPES` it holds has the declared type.

    The message names ``where`` (the method called), the column, the rule and what was found.
    """
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"{where} expects a polars.DataFrame, got {type(frame).__name__}.")
    require_columns(frame, required, where=where)
    for column, dtype in frame.schema.items():
        if column in COLUMN_TYPES:
            rule, holds = COLUMN_TYPES[column]
            if not holds(dtype):
                raise ValueError(f"{where}: column {column!r} must be {rule}; got {dtype}.")


def require_columns(frame: pl.DataFrame, columns: Sequence[str], *, where: str) -> None:
    """Raise ``ValueError`` naming the first missing column and the valid ones."""
    for column in columns:
        if column not in frame.columns:
            raise ValueError(
                f"{where}: unable to find column {column!r}; valid columns: {frame.columns}"
            )


def context_matrix(frame: pl.DataFrame, *, expected_dim: int | None = None) -> np.ndarray:
    """``context`` (list[f32] per row, fixed length) as a float32 (n, d) matrix."""
    n = frame.height
    if "context" not in frame.columns:
        if expected_dim:
            raise ValueError(f"unable to find column 'context' (expected {expected_dim} features)")
        return np.zeros((n, 0), dtype=np.float32)
    series = frame["context"]
    if isinstance(series.dtype, pl.Array):
        series = series.cast(pl.List(series.dtype.inner))
    lengths = series.list.len().to_numpy()
    d = int(lengths[0]) if n else (expected_dim or 0)
    if n and (lengths != d).any():
        row = int(np.flatnonzero(lengths != d)[0])
        raise ValueError(
            f"column 'context' must have the same length on every row; row {row} has "
            f"{int(lengths[row])} values, row 0 has {d}"
        )
    if expected_dim is not None and d != expected_dim and n:
        raise ValueError(
            f"column 'context' has {d} features per row, but the model was fitted on "
            f"{expected_dim}"
        )
    if d == 0:
        return np.zeros((n, 0), dtype=np.float32)
    values = series.explode().to_numpy().astype(np.float32, copy=False)
    return values.reshape(n, d)


def padded_candidates(
    frame: pl.DataFrame, actions: Vocabulary
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate action ids padded: (vocab indices, raw ids, mask, K) all (n, k_max)."""
    lists = frame["candidate_actions"]
    if isinstance(lists.dtype, pl.Array):
        lists = lists.cast(pl.List(lists.dtype.inner))
    k = lists.list.len().to_numpy().astype(np.int64)
    n = frame.height
    k_max = int(k.max()) if n else 1
    if n and k.min() < 1:
        row = int(np.argmin(k))
        raise ValueError(f"column 'candidate_actions' is empty on row {row}; K must be >= 1")
    flat = lists.explode()
    flat_index = actions.index(flat)
    flat_raw = flat.cast(pl.Int64).to_numpy()
    if n and k.min() == k_max:  # every row has K candidates: the flat lists reshape as they are
        return (np.ascontiguousarray(flat_index.reshape(n, k_max), dtype=np.int64),
                np.ascontiguousarray(flat_raw.reshape(n, k_max), dtype=np.int64),
                np.ones((n, k_max), dtype=bool), k)
    rows = np.repeat(np.arange(n), k)
    starts = np.concatenate([[0], np.cumsum(k)[:-1]]) if n else np.zeros(0, dtype=np.int64)
    cols = np.arange(flat_index.shape[0]) - np.repeat(starts, k)
    index = np.zeros((n, k_max), dtype=np.int64)
    raw = np.full((n, k_max), -1, dtype=np.int64)
    mask = np.zeros((n, k_max), dtype=bool)
    index[rows, cols] = flat_index
    raw[rows, cols] = flat_raw
    mask[rows, cols] = True
    return index, raw, mask, k


def logged_action_index(frame: pl.DataFrame, raw_candidates: np.ndarray) -> np.ndarray:
    """Position of ``action`` in its candidate set (``action_index`` when present)."""
    if "action_index" in frame.columns:
        return frame["action_index"].cast(pl.Int64).to_numpy()
    if "action" not in frame.columns:
        return np.full(frame.height, -1, dtype=np.int64)
    action = frame["action"].cast(pl.Int64).to_numpy()
    hits = raw_candidates == action[:, None]
    found = hits.any(axis=1)
    if not found.all():
        row = int(np.flatnonzero(~found)[0])
        raise ValueError(
            f"column 'action' must be inside 'candidate_actions'; row {row} has action "
            f"{int(action[row])} not in {raw_candidates[row][raw_candidates[row] >= 0].tolist()}"
        )
    return hits.argmax(axis=1).astype(np.int64)


def make_batch(
    frame: pl.DataFrame,
    *,
    users: Vocabulary,
    feedback: Vocabulary,
    actions: Vocabulary,
    context_dim: int | None = None,
    need_feedback: bool = True,
    need_action: bool = True,
    where: str = "IGLP",
) -> Batch:
    """Encode ``frame`` with fitted vocabularies into a :class:`Batch` (checked first with
    :func:`check_frame`; ``where`` names the caller in its errors)."""
    columns = ["user_id", "candidate_actions"]
    if need_feedback:
        columns.append("feedback")
    if need_action and "action_index" not in frame.columns:
        columns.append("action")
    check_frame(frame, columns, where=where)
    context = context_matrix(frame, expected_dim=context_dim)
    index, raw, mask, k = padded_candidates(frame, actions)
    action_index = logged_action_index(frame, raw) if need_action else np.full(
        frame.height, -1, dtype=np.int64
    )
    if need_action and frame.height and (
        (action_index < 0).any() or (action_index >= k).any()
    ):
        row = int(np.flatnonzero((action_index < 0) | (action_index >= k))[0])
        raise ValueError(
            f"column 'action_index' must be in [0, num_candidates); row {row} has "
            f"{int(action_index[row])} with K = {int(k[row])}"
        )
    weight = (
        frame["weight"].cast(pl.Float64).to_numpy().astype(np.float32)
        if "weight" in frame.columns
        else np.ones(frame.height, dtype=np.float32)
    )
    return Batch(
        user=users.index(frame["user_id"]),
        feedback=feedback.index(frame["feedback"]) if need_feedback else np.zeros(
            frame.height, dtype=np.int64
        ),
        context=context,
        candidates=index,
        mask=mask,
        num_candidates=k,
        action_index=action_index,
        weight=weight,
    )


def action_feature_matrix(actions_table: pl.DataFrame | None, actions: Vocabulary) -> np.ndarray:
    """Per-action features aligned with ``actions`` indices (row 0, unknown, is zeros)."""
    if actions_table is None or actions_table.height == 0:
        return np.zeros((actions.size, 0), dtype=np.float32)
    require_columns(actions_table, ["action_id", "features"], where="IGLP actions table")
    dim = int(actions_table["features"].list.len().max())
    matrix = np.zeros((actions.size, dim), dtype=np.float32)
    index = actions.index(actions_table["action_id"])
    feats = actions_table["features"].explode().to_numpy().astype(np.float32)
    feats = feats.reshape(actions_table.height, dim)
    keep = index > 0
    matrix[index[keep]] = feats[keep]
    return matrix


def candidate_ids(frame: pl.DataFrame, index: np.ndarray) -> np.ndarray:
    """The action id at position ``index[i]`` of row i's ``candidate_actions``, int64 (n,)."""
    lists = frame["candidate_actions"]
    if isinstance(lists.dtype, pl.Array):
        lists = lists.cast(pl.List(lists.dtype.inner))
    return lists.list.get(pl.Series(index, dtype=pl.Int64)).cast(pl.Int64).to_numpy()

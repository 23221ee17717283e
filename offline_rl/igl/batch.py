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


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Sorted distinct ids (an int64 or string polars Series); :meth:`index` maps them to
    1..n and every other id to 0 (:data:`UNKNOWN`).

    Held as a column, not a Python tuple, so five million user ids cost tens of megabytes;
    saved in the artifact's ``vocabularies.parquet`` (never in ``config.json``).
    """

    ids: pl.Series

    @classmethod
    def fit(cls, series: pl.Series) -> Vocabulary:
        """The distinct non-null ids of ``series``, sorted."""
        return cls(_canonical_ids(series.drop_nulls()).unique().sort())

    @classmethod
    def of(cls, values) -> Vocabulary:
        """A vocabulary of ``values`` (any iterable of ints or of strings)."""
        series = values if isinstance(values, pl.Series) else pl.Series("ids", list(values))
        return cls.fit(series)

    def __len__(self) -> int:
        return self.ids.len()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.ids.dtype == other.ids.dtype and bool(
            self.ids.equals(other.ids))

    __hash__ = None  # mutable-looking content: not hashable

    @property
    def size(self) -> int:
        """Number of embedding rows needed (the ids plus the unknown slot)."""
        return len(self) + 1

    def index(self, series: pl.Series) -> np.ndarray:
        """Vocabulary position (1..n) of each value, 0 for ids not in the vocabulary."""
        if len(self) == 0 or len(series) == 0:
            return np.zeros(len(series), dtype=np.int64)
        if self.ids.dtype == pl.String:
            series = series.cast(pl.String)
        else:
            series = series.cast(pl.Int64, strict=False)
        new = pl.Series(np.arange(1, len(self) + 1, dtype=np.int64))
        mapped = series.replace_strict(self.ids, new, default=UNKNOWN, return_dtype=pl.Int64)
        return mapped.fill_null(UNKNOWN).to_numpy().astype(np.int64, copy=False)

    def to_list(self) -> list[Any]:
        return self.ids.to_list()


def _canonical_ids(series: pl.Series) -> pl.Series:
    """Integer ids as Int64, anything else as String (the log schema's two id types)."""
    if series.dtype.is_integer() or series.dtype == pl.Null:
        return series.cast(pl.Int64).rename("ids")
    return series.cast(pl.String).rename("ids")


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
    log_prior : float32 (n, k_max) or None
        log P(a | x) of the logging policy over each row's candidates (``NEG_INF`` in padding)
        when the frame carries ``action_probs`` on every row; else None.
    """

    user: np.ndarray
    feedback: np.ndarray
    context: np.ndarray
    candidates: np.ndarray
    mask: np.ndarray
    num_candidates: np.ndarray
    action_index: np.ndarray
    weight: np.ndarray
    log_prior: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, rows: np.ndarray | slice) -> Batch:
        """Rows by index array (a copy) or by slice (views, no copy)."""
        return Batch(**{name: None if getattr(self, name) is None else getattr(self, name)[rows]
                        for name in self.__dataclass_fields__})

    @property
    def ik_weight(self) -> np.ndarray:
        """The row weights of the IK likelihood: the importance weights that synthesise the
        uniform distribution (Algorithm 1, line 10), or 1 when the logging distribution is
        known (``log_prior``) and enters the likelihood itself (see ``IKNet``)."""
        return self.weight if self.log_prior is None else np.ones_like(self.weight)


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
        log_prior=logging_log_prior(frame, mask) if need_action else None,
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


#: log-probability written in the padding of ``Batch.log_prior`` (and of IK log-likelihoods).
NEG_INF = -1e9


def logging_log_prior(frame: pl.DataFrame, mask: np.ndarray) -> np.ndarray | None:
    """log ``action_probs`` padded like the candidates, when every row of ``frame`` has them
    (one probability per candidate, all > 0: a row whose logging policy could not have shown
    a candidate carries no information about it); None otherwise (the IK model then uses
    importance weights)."""
    if "action_probs" not in frame.columns or frame.height == 0:
        return None
    probs = frame["action_probs"]
    if probs.null_count() or not isinstance(probs.dtype, pl.List | pl.Array):
        return None
    if isinstance(probs.dtype, pl.Array):
        probs = probs.cast(pl.List(probs.dtype.inner))
    lengths = probs.list.len().to_numpy()
    if (lengths != mask.sum(axis=1)).any():
        return None
    flat = probs.explode().cast(pl.Float64).to_numpy()
    if not (flat > 0).all():
        return None
    out = np.full(mask.shape, NEG_INF, dtype=np.float32)
    out[mask] = np.log(flat).astype(np.float32)
    return out


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


#: The artifact table (``vocabularies.parquet``) holding a learner's id vocabularies.
VOCABULARIES_TABLE = "vocabularies"


def vocabularies_frame(vocabularies: dict[str, Vocabulary]) -> pl.DataFrame:
    """Long table of several vocabularies: ``vocabulary`` (name), ``position`` (1-based
    index), ``int_id`` / ``string_id`` (the id, in the column of its type)."""
    parts = []
    for name, vocabulary in vocabularies.items():
        ids = vocabulary.ids
        is_string = ids.dtype == pl.String
        parts.append(pl.DataFrame({
            "vocabulary": pl.Series([name] * len(ids), dtype=pl.String),
            "position": pl.Series(np.arange(1, len(ids) + 1, dtype=np.int64)),
            "int_id": ids.cast(pl.Int64) if not is_string else pl.Series([None] * len(ids), dtype=pl.Int64),
            "string_id": ids if is_string else pl.Series([None] * len(ids), dtype=pl.String),
            "is_string": pl.Series([is_string] * len(ids), dtype=pl.Boolean),
        }))
        if not len(ids):  # an empty vocabulary still records its id type
            parts.append(pl.DataFrame({"vocabulary": [name], "position": [0], "int_id": [None],
                                       "string_id": [None], "is_string": [is_string]},
                                      schema=parts[-1].schema))
    return pl.concat(parts) if parts else pl.DataFrame()


def vocabularies_from_frame(frame: pl.DataFrame, names: Sequence[str]) -> dict[str, Vocabulary]:
    """Inverse of :func:`vocabularies_frame` for the vocabularies ``names``."""
    out = {}
    for name in names:
        rows = frame.filter(pl.col("vocabulary") == name).sort("position")
        if rows.height == 0:
            raise ValueError(f"vocabularies table has no rows for {name!r}")
        is_string = bool(rows["is_string"][0])
        rows = rows.filter(pl.col("position") > 0)
        ids = rows["string_id"] if is_string else rows["int_id"]
        out[name] = Vocabulary(ids.rename("ids"))
    return out

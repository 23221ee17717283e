"""``user_trajectories`` rows -> padded numpy arrays (states s, s', actions, done).

A *state* is (recent history items, their categories, their responses, the candidate item, its
category, the step position, the user context); the learner converts these arrays to torch
tensors. Item ids and categories are mapped to dense indices with ``0`` = padding and
``1`` = unknown (an id not seen in ``fit``).

Histories are right-aligned (most recent step last) and padded on the left with 0, keeping at
most ``history_length`` items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import polars as pl

PAD = 0
UNKNOWN = 1
OFFSET = 2

#: Columns of ``user_trajectories`` the reward model needs.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "user_id", "session_id", "step", "event_id", "item", "response", "history_items",
    "history_responses", "next_item", "next_history_items", "next_history_responses", "done",
)

#: The keys written next to every reward.
KEY_COLUMNS: tuple[str, ...] = ("user_id", "session_id", "step", "event_id")


def require_columns(frame: pl.DataFrame, columns: Sequence[str], *, where: str) -> None:
    """Raise ValueError naming the missing columns and the valid ones."""
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"{where} expects a polars.DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where}: unable to find column(s) {missing}; valid columns: {frame.columns}. "
            "Pass the user_trajectories table (offline_rl.data.prepare.user_trajectories)."
        )


@dataclass(frozen=True)
class IdIndex:
    """Sorted known ids -> dense index ``OFFSET + position``; others -> ``UNKNOWN``."""

    values: tuple[Any, ...]

    @classmethod
    def fit(cls, values: Sequence[Any] | np.ndarray | pl.Series) -> IdIndex:
        series = pl.Series(values) if not isinstance(values, pl.Series) else values
        return cls(tuple(series.drop_nulls().unique().sort().to_list()))

    @property
    def size(self) -> int:
        """Embedding rows needed: padding + unknown + known ids."""
        return len(self.values) + OFFSET

    def encode(self, values: np.ndarray, *, null_mask: np.ndarray | None = None) -> np.ndarray:
        """int64 indices of ``values`` (``PAD`` where ``null_mask``)."""
        values = np.asarray(values)
        known = np.asarray(self.values)
        out = np.full(values.shape, UNKNOWN, dtype=np.int64)
        if known.size and values.size:
            if known.dtype.kind in "iu" and values.dtype.kind not in "iuf":
                values = values.astype(known.dtype)
            position = np.searchsorted(known, values)
            position = np.clip(position, 0, known.size - 1)
            hit = known[position] == values
            out[hit] = position[hit] + OFFSET
        if null_mask is not None:
            out[null_mask] = PAD
        return out


@dataclass(frozen=True, eq=False)
class StateArrays:
    """A batch of states, all int64 unless noted.

    Attributes
    ----------
    history_items, history_responses : (n, L)
        Item indices (0 = pad) and responses + 1 (0 = pad).
    item : (n,)
        Candidate item index (0 = no item, e.g. s' at a terminal step).
    position : (n,)
        Step position in the session, clipped to ``max_position - 1``.
    context : float32 (n, d)
        User context (d may be 0).
    """

    history_items: np.ndarray
    history_responses: np.ndarray
    item: np.ndarray
    position: np.ndarray
    context: np.ndarray

    def __len__(self) -> int:
        return int(self.item.shape[0])

    def take(self, index: np.ndarray | slice) -> StateArrays:
        """The rows at ``index``."""
        return StateArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True, eq=False)
class TrajectoryArrays:
    """(s, a, s', done) for every row of a ``user_trajectories`` frame."""

    state: StateArrays
    action: np.ndarray
    next_state: StateArrays
    done: np.ndarray

    def __len__(self) -> int:
        return len(self.state)

    def take(self, index: np.ndarray | slice) -> TrajectoryArrays:
        """The rows at ``index``."""
        return TrajectoryArrays(self.state.take(index), self.action[index],
                                self.next_state.take(index), self.done[index])

    @staticmethod
    def concat(parts: Sequence[TrajectoryArrays]) -> TrajectoryArrays:
        """The rows of ``parts``, one after the other."""
        def states(which: str) -> StateArrays:
            chosen = [getattr(part, which) for part in parts]
            return StateArrays(**{f.name: np.concatenate([getattr(c, f.name) for c in chosen])
                                  for f in fields(StateArrays)})
        return TrajectoryArrays(states("state"), np.concatenate([p.action for p in parts]),
                                states("next_state"), np.concatenate([p.done for p in parts]))


#: Units a validation split may hold out whole: every row of a user, or of a session.
VALIDATION_UNITS: dict[str, tuple[str, ...]] = {
    "user": ("user_id",),
    "session": ("user_id", "session_id"),
}


def held_out_mask(frame: pl.DataFrame, *, fraction: float, unit: str, seed: int) -> np.ndarray:
    """bool (n,): the rows of the units (users or sessions) held out for validation.

    A unit is held out when a hash of ``(seed, unit key)`` falls below ``fraction``, so the
    decision depends on the unit alone: every row of a user (``unit='user'``) or of a session
    (``'session'``: ``user_id``, ``session_id``) lands on the same side, in whatever order,
    row group, process or resumed run the rows are seen, and the same seed gives the same
    split. The held-out share of units is ``fraction`` in expectation, not exactly.

    The hash is BLAKE2b of the text ``"<seed>|<key>"``, stable across machines and library
    versions (polars' and DuckDB's ``hash`` are not).
    """
    if fraction <= 0 or frame.height == 0:
        return np.zeros(frame.height, dtype=bool)
    columns = VALIDATION_UNITS[unit]
    require_columns(frame, columns, where="validation split")
    keys = frame.select(pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator="\x1f")
                        .alias("key"))["key"]
    units = keys.unique()
    threshold = int(fraction * 2**64)
    held = [int.from_bytes(hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=8).digest(), "big")
            < threshold for key in units.to_list()]
    held_units = units.filter(pl.Series(held, dtype=pl.Boolean))
    return keys.is_in(held_units).to_numpy()


def padded_lists(series: pl.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned (n, width) values of a list column and the bool mask of real entries.

    Lists longer than ``width`` keep their last ``width`` entries; nulls count as empty.
    """
    series = series.fill_null([])
    n = series.len()
    lengths = series.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = series.explode(empty_as_null=False).drop_nulls().to_numpy() if n else np.zeros(0)
    values = np.zeros((n, width), dtype=flat.dtype if flat.size else np.int64)
    mask = np.zeros((n, width), dtype=bool)
    if flat.size and width:
        rows = np.repeat(np.arange(n), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        index_in_list = np.arange(flat.size) - starts
        column = width - np.repeat(lengths, lengths) + index_in_list
        keep = column >= 0
        values[rows[keep], column[keep]] = flat[keep]
        mask[rows[keep], column[keep]] = True
    return values, mask


def context_matrix(frame: pl.DataFrame, dim: int) -> np.ndarray:
    """float32 (n, dim) from the ``context`` list column (zeros when dim is 0 or it is absent)."""
    if dim == 0 or "context" not in frame.columns:
        return np.zeros((frame.height, dim), dtype=np.float32)
    values, mask = padded_lists(frame["context"].cast(pl.List(pl.Float32)), dim)
    lengths = frame["context"].list.len().fill_null(0).to_numpy()
    bad = lengths != dim
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Column 'context' must hold {dim} floats per row (as in fit); row {row} has "
            f"{int(lengths[row])}."
        )
    return np.where(mask, values, 0).astype(np.float32)


def category_lookup(
    items: IdIndex, item_categories: Mapping[Any, Any] | pl.DataFrame | None
) -> tuple[IdIndex, np.ndarray]:
    """Category vocabulary and the (items.size,) array item index -> category index.

    ``item_categories`` maps item id -> category (a dict, or a frame with columns ``item`` and
    ``category``). Without it every known item has the one category ``UNKNOWN``.
    """
    lookup = np.full(items.size, UNKNOWN, dtype=np.int64)
    lookup[PAD] = PAD
    if item_categories is None:
        return IdIndex(()), lookup
    if isinstance(item_categories, pl.DataFrame):
        require_columns(item_categories, ["item", "category"], where="item_categories")
        mapping = dict(zip(item_categories["item"].to_list(),
                           item_categories["category"].to_list(), strict=True))
    else:
        mapping = dict(item_categories)
    categories = IdIndex.fit(pl.Series([v for v in mapping.values() if v is not None]))
    known = {value: i + OFFSET for i, value in enumerate(categories.values)}
    for position, item in enumerate(items.values):
        category = mapping.get(item)
        if category is not None:
            lookup[position + OFFSET] = known[category]
    return categories, lookup


def action_feature_matrix(items: IdIndex, actions: pl.DataFrame | None) -> np.ndarray:
    """float32 (items.size, f) item features from an actions table (f = 0 without one)."""
    if actions is None:
        return np.zeros((items.size, 0), dtype=np.float32)
    require_columns(actions, ["action_id", "features"], where="actions table")
    dim = int(actions["features"].list.len().max() or 0)
    features, _ = padded_lists(actions["features"].cast(pl.List(pl.Float32)), dim)
    index = items.encode(actions["action_id"].to_numpy())
    out = np.zeros((items.size, dim), dtype=np.float32)
    known = index >= OFFSET
    out[index[known]] = features[known]
    return out


def encode_trajectories(
    frame: pl.DataFrame,
    *,
    items: IdIndex,
    history_length: int,
    context_dim: int,
    max_position: int,
    n_actions: int,
) -> TrajectoryArrays:
    """Encode every row of a ``user_trajectories`` frame."""
    require_columns(frame, REQUIRED_COLUMNS, where="QRIQL")
    response = frame["response"].to_numpy()
    if frame["response"].null_count() or ((response < 0) | (response >= n_actions)).any():
        bad = frame.filter(pl.col("response").is_null() | (pl.col("response") < 0)
                           | (pl.col("response") >= n_actions))
        raise ValueError(
            f"Column 'response' must hold ints in [0, {n_actions}) (n_actions); found "
            f"{bad['response'][0]!r} (event_id {bad['event_id'][0]!r})."
        )
    context = context_matrix(frame, context_dim)
    step = frame["step"].to_numpy().astype(np.int64)
    done = frame["done"].to_numpy().astype(bool)

    def state(items_col: str, responses_col: str, item: np.ndarray, null: np.ndarray,
              position: np.ndarray) -> StateArrays:
        hist, mask = padded_lists(frame[items_col], history_length)
        resp, _ = padded_lists(frame[responses_col], history_length)
        hist_index = items.encode(hist, null_mask=~mask)
        resp_index = np.where(mask, np.clip(resp, 0, n_actions - 1) + 1, 0).astype(np.int64)
        return StateArrays(
            history_items=hist_index,
            history_responses=resp_index,
            item=items.encode(item, null_mask=null),
            position=np.minimum(position, max_position - 1),
            context=context,
        )

    next_item = frame["next_item"]
    next_null = next_item.is_null().to_numpy() | done
    return TrajectoryArrays(
        state=state("history_items", "history_responses", frame["item"].to_numpy(),
                    np.zeros(frame.height, dtype=bool), step),
        action=response.astype(np.int64),
        next_state=state("next_history_items", "next_history_responses",
                         next_item.fill_null(0).to_numpy(), next_null, step + 1),
        done=done,
    )


def flip_last_response(state: StateArrays, n_actions: int, counterfactual: np.ndarray) -> StateArrays:
    """``s'`` as it would be had the user answered ``counterfactual`` at this step.

    The last history entry of ``s'`` is this step; its response (stored + 1) is replaced.
    """
    responses = state.history_responses.copy()
    has_last = responses[:, -1] > 0
    responses[has_last, -1] = np.clip(counterfactual[has_last], 0, n_actions - 1) + 1
    return StateArrays(
        history_items=state.history_items,
        history_responses=responses,
        item=state.item,
        position=state.position,
        context=state.context,
    )

"""Cross-fitting folds for the IK model: which rows each fold model decodes, and which it may
use to stop early.

Every decoded reward the policy trains on comes from an IK model that did not train on that
row (cross-fitting, as in double/debiased machine learning, Chernozhukov et al. 2018: a
nuisance model fitted on other folds is applied to this one). How the rows are cut into
folds matters for two reasons, and the rule below serves both.

* **Personalised decoding needs the user's other rows.** A fold that held all of a user's
  rows would decode them with a model that never saw the user. So the unit of assignment is
  not the user but a *user-time block*: a user's rows within one clock hour
  (``crossfit_block_seconds``, 3600 by default) -- in practice one visit or session.
* **Correlated rows stay together.** Rows of one session share the user's mood, device and
  intent beyond what the model's user representation captures; if some of them trained the
  model that decodes the others, the held-out likelihood would flatter the model. A block
  goes to one fold as a whole.

Fold of a block: ``(block index + user offset) mod F``, where the block index is the hour
since the epoch (``floor(ts / crossfit_block_seconds)``) and the user offset a stable hash of
``(seed, user_id)`` mod F. A user's consecutive active hours therefore rotate through the
folds (a user seen in two hours lands in two folds), the assignment is deterministic given
the seed, and it depends on the row alone -- not on which other rows are in the frame. That
last property keeps warm starts honest: a row in tonight's fold f was in last night's fold f
too, so last night's fold-f model, from which tonight's fold-f model starts, never trained
on it either.

Frames without ``ts`` (tests, hand-built frames) fall back to the row order: a user's rows,
in frame order, are cut into runs of :data:`ROWS_PER_BLOCK_WITHOUT_TIME`.

Inner validation (early stopping and restart choice) uses the *training* folds only: a block
of a training fold is held out from fold model f with probability ``validation_fraction``
(a stable hash of the block and f), so no decoded row ever steers its own decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: Without a ``ts`` column, a user's rows (in frame order) form blocks of this many rows.
ROWS_PER_BLOCK_WITHOUT_TIME = 5

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a stable, well-mixed uint64 hash of uint64 values."""
    z = np.asarray(values, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z & _MASK64


def _combine(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Hash of a pair (order matters)."""
    with np.errstate(over="ignore"):
        return _mix(np.asarray(a, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                    + np.asarray(b, dtype=np.uint64))


def stable_id_hash(ids: pl.Series, seed: int) -> np.ndarray:
    """uint64 hash of each id and the seed, the same in every process and library version.

    Integer ids are hashed arithmetically; string ids through their UTF-8 bytes (FNV-1a over
    the distinct ids, then mapped back), never Python's salted ``hash``.
    """
    seed_hash = _mix(np.array([seed], dtype=np.uint64) + np.uint64(0x632BE59BD9B4E019))
    if ids.dtype.is_integer():
        raw = ids.cast(pl.Int64).to_numpy().astype(np.int64).view(np.uint64)
        return _combine(seed_hash, raw)
    strings = ids.cast(pl.String)
    distinct = strings.unique()
    codes = np.empty(distinct.len(), dtype=np.uint64)
    prime, offset = 0x100000001B3, 0xCBF29CE484222325
    for index, text in enumerate(distinct.to_list()):
        value = offset
        for byte in text.encode("utf-8"):
            value = ((value ^ byte) * prime) & 0xFFFFFFFFFFFFFFFF
        codes[index] = value
    mapped = strings.replace_strict(distinct, pl.Series(codes, dtype=pl.UInt64),
                                    return_dtype=pl.UInt64).to_numpy()
    return _combine(seed_hash, mapped)


def time_blocks(frame: pl.DataFrame, block_seconds: float) -> np.ndarray:
    """Per row, the index of its block along time: the hour since the epoch (for
    ``block_seconds = 3600``) when the frame has ``ts``, else the position of the row among
    its user's rows (frame order) divided by :data:`ROWS_PER_BLOCK_WITHOUT_TIME`."""
    if "ts" in frame.columns and frame.schema["ts"].is_temporal():
        microseconds = frame["ts"].cast(pl.Datetime("us")).dt.epoch("us").to_numpy()
        return np.floor(microseconds / (block_seconds * 1e6)).astype(np.int64)
    rank = frame.select(pl.int_range(pl.len()).over("user_id")).to_series().to_numpy()
    return (rank // ROWS_PER_BLOCK_WITHOUT_TIME).astype(np.int64)


@dataclass(frozen=True)
class CrossFitFolds:
    """The fold of every row and the hash of its block (for inner validation).

    Attributes
    ----------
    fold : int64 (n,)
        The fold model that decodes the row (it never trains on it).
    block_key : uint64 (n,)
        Stable hash of (seed, user, time block): rows of one block share it.
    n_folds : int
    """

    fold: np.ndarray
    block_key: np.ndarray
    n_folds: int

    def training_rows(self, fold: int) -> np.ndarray:
        """Rows fold model ``fold`` may learn from (every other fold)."""
        return self.fold != fold

    def inner_validation(self, fold: int, fraction: float) -> np.ndarray:
        """Rows of the *training* folds that fold model ``fold`` holds out for early stopping:
        whole blocks, each with probability ``fraction`` (a stable hash of block and fold)."""
        uniform = _combine(self.block_key, np.uint64(fold + 1)) >> np.uint64(11)
        chosen = uniform.astype(np.float64) / float(1 << 53) < fraction
        return chosen & self.training_rows(fold)


def crossfit_folds(frame: pl.DataFrame, *, n_folds: int, seed: int,
                   block_seconds: float) -> CrossFitFolds:
    """Assign every row of ``frame`` to one of ``n_folds`` folds by user-time block (see the
    module docstring): ``(time block + hash(seed, user) mod F) mod F``."""
    user_hash = stable_id_hash(frame["user_id"], seed)
    blocks = time_blocks(frame, block_seconds)
    offset = (user_hash % np.uint64(n_folds)).astype(np.int64)
    fold = (blocks + offset) % n_folds
    block_key = _combine(user_hash, blocks.view(np.uint64))
    return CrossFitFolds(fold.astype(np.int64), block_key, int(n_folds))

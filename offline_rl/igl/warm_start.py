"""Warm start: seed a new IGL-P fit with yesterday's model.

Tonight's data brings users, signals and actions that yesterday's model never saw, so the
vocabularies grow: tonight's vocabulary is the union of both, and every row of an id both
nights share (embeddings, user deviations, which users and signals a model learnt from) is
copied from the old model, while new ids start from their fresh initialisation (row 0, the
"unknown" slot, is copied too). Every other parameter of the same shape is copied as is.
Context scaling is recomputed on tonight's data by training.

Tonight's fold model f starts from last night's fold model f (the folds depend on the row
alone, so that model never trained on a row tonight's fold f decodes;
:mod:`offline_rl.igl.folds`). It starts past the no-signal point (IGL-P's optimisation trap),
so its first attempt skips the action-only warm-up; a stuck warm attempt is followed by cold
ones, and the signal check runs as on any fit (:mod:`offline_rl.igl.crossfit`).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
from torch import nn

from offline_rl.igl.batch import Vocabulary


def merged_vocabulary(old: Vocabulary, new: Vocabulary) -> Vocabulary:
    """Sorted union of two vocabularies (the ids of both nights)."""
    if len(old) and len(new) and old.ids.dtype != new.ids.dtype:
        raise ValueError(
            f"warm_start's ids are {old.ids.dtype} but tonight's are {new.ids.dtype}; "
            f"start fresh instead.")
    return Vocabulary.fit(pl.concat([old.ids, new.ids]) if len(old) and len(new)
                          else (old.ids if len(old) else new.ids))


def _row_map(old: Vocabulary, new: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (new, old) that hold the same id, the unknown slot 0 included (vectorised: a
    join of the two id columns, not a Python loop over millions of users)."""
    old_rows = old.index(new.ids) if len(new) else np.zeros(0, dtype=np.int64)
    new_rows = np.arange(1, len(new) + 1, dtype=np.int64)
    shared = old_rows > 0
    return (torch.as_tensor(np.concatenate([[0], new_rows[shared]])),
            torch.as_tensor(np.concatenate([[0], old_rows[shared]])))


def _table(name: str) -> str | None:
    """Which vocabulary indexes the first dimension of parameter or buffer ``name``, if any."""
    if name.startswith(("user_embedding", "users.deviation", "users.known")):
        return "users"
    if name.startswith(("feedback_embedding", "known_feedback")):
        return "feedback"
    if name.startswith(("actions.embedding", "action_state_bias", "action_bias")):
        return "actions"
    return None


def transfer_parameters(
    new: nn.Module,
    old: nn.Module,
    *,
    old_vocabularies: dict[str, Vocabulary],
    new_vocabularies: dict[str, Vocabulary],
) -> list[str]:
    """Copy ``old``'s parameters into ``new`` (rows by id for embeddings); return what was copied."""
    old_state = old.state_dict()
    new_state = new.state_dict()
    copied = []
    for name, value in new_state.items():
        if name not in old_state or name.endswith("features"):
            continue  # action features are tonight's data, not learned state
        previous = old_state[name]
        table = _table(name)
        if table is not None:
            new_rows, old_rows = _row_map(old_vocabularies[table], new_vocabularies[table])
            if previous.shape[1:] != value.shape[1:]:
                continue
            value[new_rows] = previous[old_rows]
            copied.append(name)
        elif previous.shape == value.shape:
            value.copy_(previous)
            copied.append(name)
    new.load_state_dict(new_state)
    return copied

"""Warm start: seed a new IGL-P fit with yesterday's model.

Tonight's data brings users, signals and actions that yesterday's model never saw, so the
vocabularies grow: tonight's vocabulary is the union of both, and every embedding row of an
id both nights share is copied from the old model, while new ids start from their fresh
initialisation (row 0, the "unknown" slot, is copied too). Every other parameter of the
same shape is copied as is. Context scaling is recomputed on tonight's data by training.

A warm-started IK model starts past the no-signal point (IGL-P's optimisation trap), so it
is trained once, without the action-only warm-up and without restarts.
"""

from __future__ import annotations

import torch
from torch import nn

from offline_rl.igl.batch import Vocabulary


def merged_vocabulary(old: Vocabulary, new: Vocabulary) -> Vocabulary:
    """Sorted union of two vocabularies (the ids of both nights)."""
    return Vocabulary(tuple(sorted(set(old.values) | set(new.values))))


def _row_map(old: Vocabulary, new: Vocabulary) -> tuple[list[int], list[int]]:
    """Rows (new, old) that hold the same id, the unknown slot 0 included."""
    old_position = {value: index + 1 for index, value in enumerate(old.values)}
    pairs = [(0, 0)] + [
        (index + 1, old_position[value]) for index, value in enumerate(new.values) if value in old_position
    ]
    return [new_row for new_row, _ in pairs], [old_row for _, old_row in pairs]


def _table(name: str) -> str | None:
    """Which vocabulary indexes the first dimension of parameter ``name``, if any."""
    if name.startswith("user_embedding"):
        return "users"
    if name.startswith("feedback_embedding"):
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
            value[torch.tensor(new_rows)] = previous[torch.tensor(old_rows)]
            copied.append(name)
        elif previous.shape == value.shape:
            value.copy_(previous)
            copied.append(name)
    new.load_state_dict(new_state)
    return copied

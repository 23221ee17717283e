"""Per-round numpy arrays -> the canonical Arrow tables (logs and actions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from offline_rl.schema import (
    ACTIONS_SCHEMA,
    HIDDEN_REWARD_COLUMN,
    LOG_SCHEMA,
    schema_with_vocabulary,
)
from offline_rl.simulators.rounds import Rounds


def _list_array(values: np.ndarray, lengths: np.ndarray, value_type: pa.DataType) -> pa.Array:
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=value_type))


def build_log_table(
    *,
    event_id: np.ndarray,
    ts_us: np.ndarray,
    rounds: Rounds,
    actions: np.ndarray,
    propensity: np.ndarray,
    action_probs: np.ndarray | None,
    feedback: np.ndarray,
    rewards: np.ndarray | None,
    vocabulary: Sequence[str],
) -> pa.Table:
    """Assemble the canonical log table from per-round arrays (padded candidates unpadded)."""
    n = len(rounds)
    mask = rounds.mask
    context = np.ascontiguousarray(rounds.context, dtype=np.float32)
    d = context.shape[1]
    columns = {
        "event_id": pa.array(event_id, type=pa.int64()),
        "ts": pa.array(ts_us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(rounds.user_id, type=pa.int64()),
        "context": _list_array(context.reshape(-1), np.full(n, d, dtype=np.int64), pa.float32()),
        "candidate_actions": _list_array(
            rounds.candidate_actions[mask], rounds.num_candidates, pa.int64()
        ),
        "action": pa.array(actions, type=pa.int64()),
        "propensity": pa.array(propensity, type=pa.float64()),
        "action_probs": (
            _list_array(action_probs[mask], rounds.num_candidates, pa.float64())
            if action_probs is not None
            else pa.nulls(n, type=pa.list_(pa.float64()))
        ),
        "feedback": pa.array(np.asarray(feedback, dtype=object), type=pa.string()),
        HIDDEN_REWARD_COLUMN: (
            pa.array(rewards, type=pa.float64())
            if rewards is not None
            else pa.nulls(n, type=pa.float64())
        ),
    }
    schema = schema_with_vocabulary(vocabulary, LOG_SCHEMA)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def build_actions_table(features: np.ndarray) -> pa.Table:
    """The :data:`offline_rl.schema.ACTIONS_SCHEMA` table for action ids ``0..len(features)-1``."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    return pa.Table.from_arrays(
        [
            pa.array(np.arange(n, dtype=np.int64)),
            _list_array(features.reshape(-1), np.full(n, d, dtype=np.int64), pa.float32()),
        ],
        schema=ACTIONS_SCHEMA,
    )

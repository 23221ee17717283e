"""Small canonical logs built by hand, for tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from offline_rl.schema import LOG_SCHEMA, schema_with_vocabulary

START = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def make_log_rows(n: int = 12, *, seed: int = 0, n_actions: int = 4, users: int = 3) -> dict[str, list]:
    """Column dict of ``n`` valid logged decisions under a uniform logging policy."""
    rng = np.random.default_rng(seed)
    signals = ["none", "click", "like", "dislike"]
    candidates = list(range(n_actions))
    actions = rng.integers(0, n_actions, n)
    return {
        "event_id": list(range(100, 100 + n)),
        "ts": [START + dt.timedelta(minutes=5 * i) for i in range(n)],
        "user_id": [int(i % users) for i in range(n)],
        "context": [[float(i), 1.0] for i in range(n)],
        "candidate_actions": [candidates for _ in range(n)],
        "action": [int(a) for a in actions],
        "propensity": [1.0 / n_actions] * n,
        "action_probs": [[1.0 / n_actions] * n_actions for _ in range(n)],
        "feedback": [signals[i % len(signals)] for i in range(n)],
        "reward": [float(i % 2) for i in range(n)],
    }


def rows_to_table(rows: dict[str, list], vocabulary=None) -> pa.Table:
    schema = LOG_SCHEMA if vocabulary is None else schema_with_vocabulary(vocabulary)
    fields = [field for field in schema if field.name in rows]
    return pa.table({field.name: rows[field.name] for field in fields}, schema=pa.schema(fields, metadata=schema.metadata))



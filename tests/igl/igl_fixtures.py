"""Helpers for the IGL-P tests (a uniquely named module, imported by the tests directly)."""

from __future__ import annotations

import numpy as np
import polars as pl

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import ik_training_set
from offline_rl.simulators import simulate_logs

#: A budget that learns the small problem below in a few seconds on one busy core.
SMALL_CONFIG = dict(
    ik_epochs=25,
    ik_restarts=2,
    ik_warmup_epochs=3,
    ik_batch_size=1024,
    hidden_dim=32,
    action_dim=8,
    policy_epochs=25,
    policy_batch_size=1024,
    max_threads=1,
)


def small_covertype(rows: int = 8000, seed: int = 0):
    """(simulation, ik_training_set frame without reward, hidden reward aligned to it)."""
    sim = simulate_logs("covertype", rows=rows, seed=seed, n_users=10, n_words=10)
    logs = pl.from_arrow(sim.logs)
    frame = ik_training_set(drop_hidden_reward(logs))
    reward = (
        frame.select("event_id")
        .join(logs.select("event_id", "reward"), on="event_id", how="left")["reward"]
        .to_numpy()
    )
    return sim, frame, reward


def variable_k_frame(n: int = 60, seed: int = 0) -> pl.DataFrame:
    """An ik_training_set-shaped frame whose candidate sets vary in size (2..5)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 6, n)
    candidates = [sorted(rng.choice(20, size=int(ki), replace=False).tolist()) for ki in k]
    index = [int(rng.integers(0, len(c))) for c in candidates]
    propensity = 1.0 / k
    return pl.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "user_id": rng.integers(0, 4, n).astype(np.int64),
            "context": pl.Series(rng.normal(size=(n, 3)).astype(np.float32).tolist(),
                                 dtype=pl.List(pl.Float32)),
            "feedback": rng.choice(["none", "click", "dislike"], n).tolist(),
            "candidate_actions": pl.Series(candidates, dtype=pl.List(pl.Int64)),
            "num_candidates": k.astype(np.int64),
            "action": np.array([c[i] for c, i in zip(candidates, index, strict=True)]),
            "action_index": np.array(index, dtype=np.int64),
            "propensity": propensity,
            "raw_weight": 1.0 / (k * propensity),
            "weight": 1.0 / (k * propensity),
        }
    )

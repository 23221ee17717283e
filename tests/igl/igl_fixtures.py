"""Helpers for the IGL-P tests (a uniquely named module, imported by the tests directly)."""

from __future__ import annotations

import numpy as np
import polars as pl

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import ik_training_set
from offline_rl.simulators import simulate_logs

#: A budget that learns the small problem below in a few seconds on one busy core.
SMALL_CONFIG = dict(
    ik_epochs=30,
    ik_restarts=3,
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


#: Item ids of the planted-signal frame: rewarding (r = +1) and bad (r = -1) items.
GOOD_ITEMS = range(0, 5)
BAD_ITEMS = range(15, 20)


def planted_frame(n: int = 2000, seed: int = 0, *, users: int = 30,
                  hours: float = 60.0) -> pl.DataFrame:
    """An ik_training_set-shaped frame with a signal the IK model finds in a few epochs.

    Candidate sets of 3-6 of 20 items, logged uniformly. Items 0-4 are rewarding (r = +1),
    15-19 bad (r = -1), the rest neutral; every user says ``like`` for r = +1 (90%),
    ``dislike`` for r = -1 (50%, else ``none``) and ``none`` for r = 0. So K * P_hat of a
    liked good item is far above 2 (extreme, decoded +1), a disliked bad item is extreme and
    definitely negative, and the item features ``[good, bad]`` make it learnable from the
    actions table too. Rows spread over ``hours`` of ``ts`` (user-time blocks for the folds).
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 7, n)
    candidates = [rng.choice(20, size=int(ki), replace=False).tolist() for ki in k]
    index = np.array([int(rng.integers(0, len(c))) for c in candidates])
    action = np.array([c[i] for c, i in zip(candidates, index, strict=True)])
    reward = np.where(action < 5, 1, np.where(action >= 15, -1, 0))
    u = rng.random(n)
    feedback = np.where(reward == 1, np.where(u < 0.9, "like", "none"),
                        np.where(reward == -1, np.where(u < 0.5, "dislike", "none"), "none"))
    ts = np.sort(rng.uniform(0, hours * 3600, n))
    return pl.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "ts": pl.Series((ts * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC")),
            "user_id": rng.integers(0, users, n).astype(np.int64),
            "context": pl.Series(rng.normal(size=(n, 3)).astype(np.float32).tolist(),
                                 dtype=pl.List(pl.Float32)),
            "feedback": feedback.tolist(),
            "candidate_actions": pl.Series(candidates, dtype=pl.List(pl.Int64)),
            "num_candidates": k.astype(np.int64),
            "action": action.astype(np.int64),
            "action_index": index.astype(np.int64),
            "propensity": 1.0 / k,
            "raw_weight": np.ones(n),
            "weight": np.ones(n),
        }
    )


def planted_actions() -> pl.DataFrame:
    """The actions table of :func:`planted_frame`: features ``[good, bad]``."""
    ids = np.arange(20)
    return pl.DataFrame({
        "action_id": ids.astype(np.int64),
        "features": pl.Series([[float(i < 5), float(i >= 15)] for i in ids],
                              dtype=pl.List(pl.Float32)),
    })


#: A tiny budget that finds the planted signal.
PLANTED_CONFIG = dict(ik_epochs=12, ik_warmup_epochs=2, ik_batch_size=256, policy_epochs=5,
                      policy_batch_size=512, max_threads=1)

"""Small-budget simulation: the learned policy beats uniform on the hidden reward."""

from __future__ import annotations

import math

import numpy as np

from offline_rl.simulators import Rounds


def test_policy_beats_uniform_on_hidden_reward(fitted_small, covertype_small):
    sim, _, _ = covertype_small
    env = sim.environment
    rng = np.random.default_rng(123)
    n = 4000
    rounds: Rounds = env.sample_rounds(n, rng)
    import polars as pl

    frame = pl.DataFrame(
        {
            "user_id": rounds.user_id.astype(np.int64),
            "context": pl.Series(rounds.context.astype(np.float32).tolist(),
                                 dtype=pl.List(pl.Float32)),
            "candidate_actions": pl.Series(rounds.candidate_actions.tolist(),
                                           dtype=pl.List(pl.Int64)),
        }
    )
    actions = fitted_small.predict(frame)
    reward = env.latent_reward(rounds, actions)
    uniform = 1.0 / env.n_actions
    # one-sided test at about 4 standard errors of a Bernoulli(1/7) mean over n rounds
    margin = 4.0 * math.sqrt(uniform * (1 - uniform) / n)
    assert reward.mean() > uniform + margin, (reward.mean(), uniform, margin)


def test_decoded_reward_tracks_hidden_reward(fitted_small, covertype_small):
    _, frame, reward = covertype_small
    decoded = fitted_small.decode(frame)["decoded_reward"].to_numpy()
    tp = float((decoded * reward).sum())
    precision = tp / max(decoded.sum(), 1.0)
    naive = reward.mean()  # precision of calling every event a reward
    assert precision > naive + 0.3, (precision, naive)


def test_on_policy_loop_beats_uniform():
    """Algorithm 1's on-policy branch on a small Covertype environment (SquareCB)."""
    from offline_rl.igl.config import IGLPConfig
    from offline_rl.igl.learner import IGLP
    from offline_rl.simulators import make_environment

    env = make_environment("covertype", seed=0, n_users=10, n_words=10)
    config = IGLPConfig(hidden_dim=32, action_dim=8, max_threads=1, ik_warmup_epochs=2,
                        exploration="squarecb", gamma=50.0)
    model = IGLP(config).fit_online(env, rounds=15_000, batch_rounds=500, seed=0)
    latent = np.asarray(model.online_traces_["latent_reward"][-6:])  # last 3000 rounds
    n = 6 * 500
    uniform = 1.0 / env.n_actions
    margin = 4.0 * math.sqrt(uniform * (1 - uniform) / n)
    assert latent.mean() > uniform + margin, (latent.mean(), uniform + margin)

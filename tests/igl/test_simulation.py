"""Small-budget simulation: the learned policies (off- and on-policy) beat the best reward-blind
policy (always the majority class) on the hidden reward, and the out-of-fold decoded reward
tracks it."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from offline_rl.simulators import Rounds


def _rounds_frame(rounds: Rounds) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": rounds.user_id.astype(np.int64),
            "context": pl.Series(rounds.context.astype(np.float32).tolist(),
                                 dtype=pl.List(pl.Float32)),
            "candidate_actions": pl.Series(rounds.candidate_actions.tolist(),
                                           dtype=pl.List(pl.Int64)),
        }
    )


def _majority_rate(env, rounds: Rounds) -> float:
    """True-reward rate of always playing the most frequent class (knows the label prior)."""
    rewards = [env.latent_reward(rounds, np.full(len(rounds), a)).mean()
               for a in range(env.n_actions)]
    return float(max(rewards))


def test_policy_beats_the_majority_class_on_hidden_reward(fitted_small, covertype_small):
    model, _ = fitted_small
    env = covertype_small[0].environment
    rounds: Rounds = env.sample_rounds(4000, np.random.default_rng(123))
    reward = env.latent_reward(rounds, model.predict(_rounds_frame(rounds)))
    majority = _majority_rate(env, rounds)
    # one-sided, about 4 standard errors of a Bernoulli mean over n rounds
    margin = 4.0 * math.sqrt(majority * (1 - majority) / len(rounds))
    assert reward.mean() > majority + margin, (reward.mean(), majority, margin)


def test_decoded_reward_tracks_hidden_reward(fitted_small, covertype_small):
    """Out of fold (no row decoded by a model that saw it): precision of r_hat = 1 well above
    the base rate, and the IK model found the signal."""
    model, decoded = fitted_small
    _, _, reward = covertype_small
    assert model.ik_found_signal_
    r_hat = decoded["decoded_reward"].to_numpy()
    precision = float((r_hat * reward).sum() / max(r_hat.sum(), 1.0))
    assert r_hat.sum() > 0.05 * len(r_hat) and precision > 0.9, (precision, r_hat.mean())


def test_on_policy_loop_beats_the_majority_class():
    """Algorithm 1's on-policy branch on a small Covertype environment (SquareCB): after
    15,000 rounds its greedy policy beats the best reward-blind policy on fresh rounds."""
    from offline_rl.igl.config import IGLPConfig
    from offline_rl.igl.learner import IGLP
    from offline_rl.simulators import make_environment

    env = make_environment("covertype", seed=0, n_users=10, n_words=10)
    config = IGLPConfig(hidden_dim=32, action_dim=8, max_threads=1, ik_warmup_epochs=2,
                        exploration="squarecb", gamma=50.0)
    model = IGLP(config).fit_online(env, rounds=15_000, batch_rounds=500, seed=0)
    rounds: Rounds = env.sample_rounds(4000, np.random.default_rng(123))
    reward = env.latent_reward(rounds, model.predict(_rounds_frame(rounds)))
    majority = _majority_rate(env, rounds)
    margin = 4.0 * math.sqrt(majority * (1 - majority) / len(rounds))
    assert reward.mean() > majority + margin, (reward.mean(), majority, margin)

"""The production simulator's 'bandit' logging: a ridge-regression epsilon-greedy bandit refitted
on its own logs (the demo's logging policy)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offline_rl.simulators import simulate_logs
from offline_rl.simulators.policies import RidgeRewardBandit
from offline_rl.simulators.rounds import Rounds


def _rounds(context: np.ndarray, candidates: np.ndarray) -> Rounds:
    n = context.shape[0]
    return Rounds(user_id=np.zeros(n, dtype=np.int64), context=context.astype(np.float32),
                  candidate_actions=candidates, num_candidates=np.full(n, candidates.shape[1], dtype=np.int64))


def test_the_ridge_fit_is_the_closed_form_and_the_policy_is_epsilon_greedy():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((6, 2))
    bandit = RidgeRewardBandit(items, epsilon=0.2, ridge=0.5)
    context = rng.standard_normal((400, 3))
    actions = rng.integers(0, 6, 400)
    phi = bandit.features(context, actions)
    assert phi.shape == (400, 1 + 3 + 2 + 6 + 6)
    truth = rng.standard_normal(phi.shape[1])
    reward = phi @ truth + 0.01 * rng.standard_normal(400)
    bandit.fit(context, actions, reward)
    expected = np.linalg.solve(phi.T @ phi + 0.5 * np.eye(phi.shape[1]), phi.T @ reward)
    np.testing.assert_allclose(bandit.coef_, expected, rtol=1e-10)
    candidates = np.array([[0, 3, 5], [1, 2, 4]])
    rounds = _rounds(context[:2], candidates)
    scores = bandit.predict(rounds)
    for row in range(2):
        direct = bandit.features(np.repeat(context[row:row + 1], 3, axis=0), candidates[row]) @ bandit.coef_
        np.testing.assert_allclose(scores[row], direct, rtol=1e-6, atol=1e-6)
    probs = bandit(rounds)
    best = scores.argmax(axis=1)
    np.testing.assert_allclose(probs[np.arange(2), best], 0.8 + 0.2 / 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isclose(probs, 0.2 / 3).sum() == 4


def test_before_its_first_fit_the_bandit_explores_uniformly():
    bandit = RidgeRewardBandit(np.eye(4), epsilon=0.1)
    # padding (-1, beyond num_candidates) gets nothing
    rounds = Rounds(user_id=np.zeros(2, dtype=np.int64), context=np.zeros((2, 1), dtype=np.float32),
                    candidate_actions=np.array([[0, 1, -1], [1, 2, 3]]), num_candidates=np.array([2, 3]))
    np.testing.assert_allclose(bandit(rounds), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    with pytest.raises(ValueError, match="'ridge' must be > 0"):
        RidgeRewardBandit(np.eye(2), epsilon=0.1, ridge=0.0)


def test_bandit_logging_refits_every_period_on_its_own_logs():
    options = {"n_users": 30, "n_items": 20, "n_candidates": 5, "logging": "bandit", "exploration": 0.15,
               "refresh_rounds": 1500}
    simulation = simulate_logs("production", rows=4500, seed=3, **options)
    logs = pl.from_arrow(simulation.logs).with_columns((pl.col("event_id") // 1500).alias("period"))
    assert logs["event_id"].to_list() == list(range(4500))
    assert logs["ts"].is_sorted() and logs["ts"].n_unique() == 4500
    first, later = logs.filter(pl.col("period") == 0), logs.filter(pl.col("period") > 0)
    assert np.allclose(first["propensity"].to_numpy(), 1 / 5)
    # epsilon-greedy: the greedy candidate has 1 - eps + eps / K, every other eps / K
    assert set(np.round(later["propensity"].to_numpy(), 9)) == {round(0.15 / 5, 9), round(0.85 + 0.15 / 5, 9)}
    hand = {"none": 0.0, "click": 1.0, "like": 2.0, "dislike": -2.0}
    value = logs.with_columns(pl.col("feedback").replace_strict(hand, return_dtype=pl.Float64).alias("v"))
    by_period = value.group_by("period").agg(pl.col("v").mean()).sort("period")["v"].to_list()
    assert min(by_period[1:]) > by_period[0], by_period  # it learned something from its own logs
    assert simulation.truth["logging_policy"]["kind"] == "ridge_bandit"
    again = simulate_logs("production", rows=4500, seed=3, **options)
    assert again.logs.equals(simulation.logs)

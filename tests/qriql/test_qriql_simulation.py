"""What r* recovers on simulated users (slow: a few minutes on 2 busy cores).

Margins come from the sample size: a rank correlation near 0 has standard error about
``1 / sqrt(n - 1)``, an AUC under the null ``sqrt((n1 + n0 + 1) / (12 n1 n0))``; we ask for
two standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.evaluation.auc import roc_auc
from offline_rl.mtrec.experiment import (
    ExperimentConfig,
    explicit_signal_check,
    satisfaction_check,
    spearman,
)
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators.sessions import simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted():
    sim = simulate(rows=20000, seed=0)
    logs = pl.from_arrow(sim.logs)
    trajectories = user_trajectories(drop_hidden_reward(logs))
    model = QRIQL(QRIQLConfig(steps=400, batch_size=1000)).fit(
        trajectories, item_categories=dict(enumerate(sim.truth["item_category"])))
    rewards = model.mental_rewards(trajectories).join(
        logs.select("event_id", "reward"), on="event_id")
    return rewards


@pytest.mark.xfail(strict=True, reason=(
    "Not with gamma = 0.9 (the experiment's Table-1 reward models). Measured 2026-11-22, "
    "20,000 steps, QR-IQL fitted on all of them and seeded like the simulator, seeds 0/1/2: "
    "Spearman with the hidden satisfaction 0.063/0.032/0.077 for the click, "
    "-0.041/-0.043/-0.027 for r* of the logged action, 0.063/0.042/0.055 for "
    "r*(s,a^P) - r*(s,a^N); margin 0.014. The users are myopic, "
    "so r* = Q(s,a) - gamma V(s') subtracts a future the users did not choose for: a session "
    "that ends after a disappointing click has V(s') = 0 and the highest r* (docs/qriql.md). "
    "With the users' gamma = 0 and enough data the claim holds: "
    "test_mental_reward_tracks_satisfaction_when_gamma_is_the_users."))
def test_mental_reward_tracks_satisfaction_better_than_clicks(fitted):
    margin = 2.0 / math.sqrt(fitted.height - 1)
    r_star = spearman(fitted["mental_reward"], fitted["reward"])
    click = spearman(fitted["response"], fitted["reward"])
    assert r_star > click + margin


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mental_reward_tracks_satisfaction_when_gamma_is_the_users(seed):
    """The issue's claim, with reward models whose gamma is the simulated users' own (0).

    r* of the logged action (the paper's Fig. 3 quantity), QR-IQL and IQ-Learn, 100,000 steps:
    with 20,000 the reward model's estimate of the click probability is too noisy (docs/qriql.md).
    Measured 2026-11-22, seeds 0/1/2: click 0.053/0.046/0.080, r* QR-IQL 0.116/0.107/0.114,
    IQ-Learn 0.100/0.106/0.112; margin 0.006.
    """
    result = satisfaction_check(
        ExperimentConfig(satisfaction_rows=100000, satisfaction_gamma=0.0, reward_steps=400,
                         reward_batch_size=1000), seed)
    for name in ("QR-IQL", "IQ-Learn"):
        assert result[name]["r_star"] > result["click"] + result["margin_2se"], result


def test_mental_reward_decreases_along_sessions(fitted):
    """Fig. 3(a): users tire, and mean r* falls from the first steps to the later ones."""
    early = fitted.filter(pl.col("step") <= 1)["mental_reward"].to_numpy()
    late = fitted.filter(pl.col("step").is_between(6, 9))["mental_reward"].to_numpy()
    se = math.sqrt(early.var() / early.size + late.var() / late.size)
    assert early.mean() - late.mean() > 2 * se


def test_mental_reward_separates_held_out_likes():
    result = explicit_signal_check(
        ExperimentConfig(production_rows=20000, reward_steps=400, reward_batch_size=1000), 0)
    for name in ("QR-IQL", "IQ-Learn"):
        n1, n0 = result[name]["n_like"], result[name]["n_dislike"]
        se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
        assert result[name]["auc_like_vs_dislike_advantage"] > 0.5 + 2 * se, result[name]


def test_roc_auc_helper_agrees_with_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y, s = rng.random(200) < 0.3, rng.normal(size=200)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))

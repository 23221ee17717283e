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
from offline_rl.data.simulators.sessions import simulate
from offline_rl.evaluation.auc import roc_auc
from offline_rl.mtrec.experiment import ExperimentConfig, explicit_signal_check, spearman
from offline_rl.qriql import QRIQL, QRIQLConfig

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
    "Measured here (seed 0, 20,000 steps, QR-IQL fitted on all of them): Spearman with the "
    "hidden satisfaction is 0.063 for the click, -0.041 for r* of the logged action and 0.063 "
    "for r*(s,a^P) - r*(s,a^N); margin 0.014. The issue's claim does not hold on this "
    "simulator; docs/qriql.md explains why (chi^2 IQ-Learn rewards measure how expected a "
    "response was)."))
def test_mental_reward_tracks_satisfaction_better_than_clicks(fitted):
    margin = 2.0 / math.sqrt(fitted.height - 1)
    r_star = spearman(fitted["mental_reward"], fitted["reward"])
    click = spearman(fitted["response"], fitted["reward"])
    assert r_star > click + margin


def test_mental_reward_decreases_along_sessions(fitted):
    """Fig. 3(a): users tire, and mean r* falls from the first steps to the later ones."""
    early = fitted.filter(pl.col("step") <= 1)["mental_reward"].to_numpy()
    late = fitted.filter(pl.col("step").is_between(6, 9))["mental_reward"].to_numpy()
    se = math.sqrt(early.var() / early.size + late.var() / late.size)
    assert early.mean() - late.mean() > 2 * se


def test_mental_reward_separates_held_out_likes():
    result = explicit_signal_check(
        ExperimentConfig(production_rows=20000, reward_steps=400, reward_batch_size=1000), 0,
        log=lambda message: None)
    for name in ("QR-IQL", "IQ-Learn"):
        n1, n0 = result[name]["n_like"], result[name]["n_dislike"]
        se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
        assert result[name]["auc_like_vs_dislike_advantage"] > 0.5 + 2 * se, result[name]


def test_roc_auc_helper_agrees_with_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y, s = rng.random(200) < 0.3, rng.normal(size=200)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))

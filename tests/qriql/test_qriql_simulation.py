"""What r* recovers on simulated users, scored on held-out users (slow: minutes on 2 cores).

Every check fits the reward models on 80% of the users and scores the steps of the other
20%, which no model has seen, on 5 seeds. Margins come from the sample size: a rank
correlation near 0 has standard error about ``1 / sqrt(n - 1)``, an AUC under the null
``sqrt((n1 + n0 + 1) / (12 n1 n0))``; we ask for two standard errors. The measured figures are
in docs/qriql.md (per-seed tables).
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
from offline_rl.mtrec.protocol import split_users
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators.sessions import simulate

pytestmark = pytest.mark.slow
SEEDS = [0, 1, 2, 3, 4]


def _held_out_rewards(seed: int) -> pl.DataFrame:
    """QR-IQL (gamma = 0.9) fitted on 80% of the users of 20,000 steps; r* of the others'
    steps beside their hidden satisfaction."""
    sim = simulate(rows=20000, seed=seed)
    logs = pl.from_arrow(sim.logs)
    trajectories = user_trajectories(drop_hidden_reward(logs))
    _, scored_users = split_users(trajectories["user_id"], 0.2, [seed, 8])
    scored = pl.col("user_id").is_in(scored_users)
    model = QRIQL(QRIQLConfig(steps=400, batch_size=1000, seed=seed)).fit(
        trajectories.filter(~scored), item_categories=dict(enumerate(sim.truth["item_category"])))
    held_out = trajectories.filter(scored)
    return model.mental_rewards(held_out).join(logs.select("event_id", "reward"), on="event_id")


@pytest.fixture(scope="module", params=SEEDS)
def held_out(request):
    return _held_out_rewards(request.param)


@pytest.mark.xfail(strict=True, reason=(
    "Not with gamma = 0.9 (the experiment's Table-1 reward models): on held-out users r* of "
    "the logged action is below the click on every seed (docs/qriql.md, 'Held-out checks'). "
    "The users are myopic, so r* = Q(s,a) - gamma V(s') subtracts a future the users did not "
    "choose for: a session that ends after a disappointing click has V(s') = 0 and the "
    "highest r*. With the users' gamma = 0 and enough data the claim holds: "
    "test_mental_reward_tracks_satisfaction_when_gamma_is_the_users."))
def test_mental_reward_tracks_satisfaction_better_than_clicks(held_out):
    margin = 2.0 / math.sqrt(held_out.height - 1)
    r_star = spearman(held_out["mental_reward"], held_out["reward"])
    click = spearman(held_out["response"], held_out["reward"])
    assert r_star > click + margin


@pytest.mark.parametrize("seed", [*SEEDS[:4], pytest.param(4, marks=pytest.mark.xfail(
    strict=True, reason=(
        "Held out, seed 4 misses: Spearman with the satisfaction 0.092 for the click, 0.077 "
        "(QR-IQL) and 0.060 (IQ-Learn) for r*, margin 0.014 (docs/qriql.md, measured "
        "2026-12-03). Seeds 0-3 hold.")))])
def test_mental_reward_tracks_satisfaction_when_gamma_is_the_users(seed):
    """The issue's claim with reward models whose gamma is the simulated users' own (0):
    r* of the logged action (Fig. 3's quantity), QR-IQL and IQ-Learn, fitted on 80% of the
    users of 100,000 steps and scored on the other 20% (docs/qriql.md has the figures)."""
    result = satisfaction_check(
        ExperimentConfig(satisfaction_rows=100000, satisfaction_gamma=0.0, reward_steps=400,
                         reward_batch_size=1000), seed)
    for name in ("QR-IQL", "IQ-Learn"):
        assert result[name]["r_star"] > result["click"] + result["margin_2se"], result


def test_mental_reward_decreases_along_sessions(held_out):
    """Fig. 3(a) on held-out users: mean r* falls from the first steps to the later ones."""
    early = held_out.filter(pl.col("step") <= 1)["mental_reward"].to_numpy()
    late = held_out.filter(pl.col("step").is_between(6, 9))["mental_reward"].to_numpy()
    se = math.sqrt(early.var() / early.size + late.var() / late.size)
    assert early.mean() - late.mean() > 2 * se


@pytest.mark.parametrize("seed", SEEDS)
def test_mental_reward_separates_held_out_likes(seed):
    """Trained on click/none only (80% of the users); on the other 20%, r*(a^P) - r*(a^N)
    separates liked from disliked engaged steps by more than 2 null SE."""
    result = explicit_signal_check(
        ExperimentConfig(production_rows=20000, reward_steps=400, reward_batch_size=1000), seed)
    for name in ("QR-IQL", "IQ-Learn"):
        n1, n0 = result[name]["n_like"], result[name]["n_dislike"]
        se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
        assert result[name]["auc_like_vs_dislike_advantage"] > 0.5 + 2 * se, result[name]


def test_roc_auc_helper_agrees_with_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y, s = rng.random(200) < 0.3, rng.normal(size=200)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))

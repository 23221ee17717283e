"""The sequential-session simulator: schema, seeding, satisfaction vs clicks, fatigue."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from offline_rl.data.loading import load_logs
from offline_rl.data.prepare import user_trajectories
from offline_rl.simulators.sessions import SessionsConfig, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(rows=4000, seed=1)


def test_canonical_schema_and_sessions(sim, tmp_path):
    pq.write_table(sim.logs, tmp_path / "logs.parquet")
    logs = load_logs(tmp_path / "logs.parquet")  # validates the canonical schema
    assert logs.height == 4000
    assert set(logs["feedback"].unique()) == {"click", "skip"}
    trajectories = user_trajectories(logs.drop("reward"))
    # the SQL job's 30-minute gap recovers the simulator's sessions
    lengths = trajectories.group_by("user_id", "session_id").len()["len"]
    assert lengths.max() <= SessionsConfig().max_session_length
    assert trajectories["done"].sum() == lengths.len()


def test_seeded(sim):
    assert simulate(rows=4000, seed=1).logs.equals(sim.logs)
    assert not simulate(rows=4000, seed=2).logs.equals(sim.logs)


def test_clickbait_clicked_but_unsatisfying_and_fatigue(sim):
    env = sim.environment
    logs = pl.from_arrow(sim.logs)
    bait = env.item_clickbait[logs["action"].to_numpy()]
    click = (logs["feedback"] == "click").to_numpy()
    satisfaction = logs["reward"].to_numpy()
    assert click[bait].mean() > click[~bait].mean()
    assert satisfaction[bait & click].mean() < satisfaction[~bait & click].mean() - 1.0
    steps = user_trajectories(logs.drop("reward"))["step"].to_numpy()
    order = pl.from_arrow(sim.logs).select("event_id")
    assert len(steps) == order.height
    early = env.expected_satisfaction(np.zeros(5, int), np.arange(5), np.zeros(5))
    late = env.expected_satisfaction(np.zeros(5, int), np.arange(5), np.full(5, 20))
    assert (late < early).all()


def test_config_validation():
    with pytest.raises(ValueError, match="'n_candidates' parameter of SessionsConfig must be an int <= n_items"):
        SessionsConfig(n_items=5, n_categories=2, n_candidates=6)
    with pytest.raises(ValueError, match="Unknown SessionsConfig setting"):
        simulate(rows=10, seed=0, nope=1)


def test_run_sessions_records_the_true_click_probability(sim):
    from offline_rl.simulators.sessions import run_sessions

    env = sim.environment
    steps = run_sessions(env, 500, np.random.default_rng([1, 1]))
    expected = env.click_probability(steps["user"], steps["item"], steps["step"].astype(float))
    np.testing.assert_allclose(steps["click_probability"], expected)  # no distrust by default


def test_distrust_lowers_clicks_after_a_disappointing_click():
    from offline_rl.simulators.sessions import SessionEnvironment

    env = SessionEnvironment(SessionsConfig(distrust_weight=1.0, satisfaction_noise=0.0), seed=0)
    bait = int(np.flatnonzero(env.item_clickbait)[0])
    honest = int(np.flatnonzero(~env.item_clickbait)[0])
    users, zero = np.zeros(2000, dtype=np.int64), np.zeros(2000)
    rng = np.random.default_rng(0)
    after_bait = env.step(users, np.full(2000, bait), zero, rng)
    after_honest = env.step(users, np.full(2000, honest), zero, rng)
    # a clicked bait disappoints by bait_attraction + bait_penalty; an honest item by nothing
    clicked = after_bait.click
    assert after_bait.distrust[clicked] == pytest.approx(4.0)
    assert (after_honest.distrust == 0).all() and (after_bait.distrust[~clicked] == 0).all()
    item = np.full(2000, honest)
    assert (env.click_probability(users, item, zero + 1, after_bait.distrust[clicked].mean())
            < env.click_probability(users, item, zero + 1)).all()
    # the next step starts from distrust_decay times it
    later = env.step(users[:5], item[:5], zero[:5] + 1, rng, np.full(5, 4.0))
    assert later.distrust[~later.click] == pytest.approx(0.7 * 4.0)


def test_distrust_off_by_default_and_validated():
    assert SessionsConfig().distrust_weight == 0.0
    with pytest.raises(ValueError, match="distrust_decay"):
        SessionsConfig(distrust_decay=1.0)

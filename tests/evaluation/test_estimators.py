"""Estimators over arrays: definitions, properties and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offline_rl.evaluation.estimators import (
    capped_ips,
    direct_method,
    doubly_robust,
    expected_under_policy,
    ips,
    ncis,
    on_policy_mean,
    snips,
    weight_diagnostics,
)

probabilities = st.floats(0.01, 1.0, allow_nan=False)


def _data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return rng.random(n) < 0.3, rng.uniform(0.05, 1.0, n), rng.uniform(0.0, 1.0, n)


def test_definitions_match_formulas():
    r, p, pi = _data()
    w = pi / p
    assert ips(r, pi, p).value == pytest.approx(np.mean(w * r), rel=1e-12)
    assert snips(r, pi, p).value == pytest.approx(np.sum(w * r) / np.sum(w), rel=1e-12)
    wbar = np.minimum(w, 2.0)
    assert capped_ips(r, pi, p, cap=2.0).value == pytest.approx(np.mean(wbar * r), rel=1e-12)
    assert ncis(r, pi, p, cap=2.0).value == pytest.approx(
        np.sum(wbar * r) / np.sum(wbar), rel=1e-12
    )
    estimate = ips(r, pi, p)
    assert estimate.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert estimate.max_weight == pytest.approx(w.max())
    assert ncis(r, pi, p, cap=2.0).max_weight <= 2.0


def test_dm_and_dr():
    r, p, pi = _data(1)
    q_logged = np.full(r.shape, 0.3)
    q_target = np.full(r.shape, 0.4)
    assert direct_method(q_target).value == pytest.approx(0.4)
    expected = np.mean(q_target + pi / p * (r - q_logged))
    assert doubly_robust(
        r, pi, p, reward_logged=q_logged, expected_reward_target=q_target
    ).value == pytest.approx(expected)
    # DR with a perfect-zero model is IPS
    zeros = np.zeros(r.shape)
    assert doubly_robust(
        r, pi, p, reward_logged=zeros, expected_reward_target=zeros
    ).value == pytest.approx(ips(r, pi, p).value)
    dist = np.array([[0.5, 0.5], [1.0, 0.0]])
    q = np.array([[1.0, 0.0], [2.0, 3.0]])
    np.testing.assert_allclose(expected_under_policy(dist, q), [0.5, 2.0])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 50), elements=probabilities),
    st.integers(0, 2**32 - 1),
)
def test_ips_equals_on_policy_mean_when_target_is_logger(propensity, seed):
    rewards = np.random.default_rng(seed).random(propensity.shape[0])
    assert ips(rewards, propensity, propensity).value == pytest.approx(
        on_policy_mean(rewards).value, rel=1e-12, abs=1e-15
    )
    assert snips(rewards, propensity, propensity).value == pytest.approx(
        on_policy_mean(rewards).value, rel=1e-12, abs=1e-15
    )


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 50), elements=probabilities),
    st.floats(0.01, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_snips_unchanged_when_weights_scaled(propensity, scale, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.random(propensity.shape[0])
    target = rng.uniform(0.01, 1.0, propensity.shape[0])
    assert snips(rewards, target * scale, propensity).value == pytest.approx(
        snips(rewards, target, propensity).value, rel=1e-10
    )


def test_weight_diagnostics_uniform():
    assert weight_diagnostics(np.ones(10)) == (10.0, 1.0)


@pytest.mark.parametrize(
    ("rewards", "target", "propensity", "message"),
    [
        ([1.0, 0.0], [0.5, 0.5], [0.5], r"Expected `propensity.shape\[0\] == 2`, but found 1"),
        ([1.0, 0.0], [0.5, 1.5], [0.5, 0.5], r"`target_prob` must lie in \[0, 1\]; row 1 is 1.5"),
        ([1.0, 0.0], [0.5, 0.5], [0.0, 0.5], r"`propensity` must lie in \(0, 1\]; row 0 is 0.0"),
        ([1.0, np.nan], [0.5, 0.5], [0.5, 0.5], r"`rewards` must be finite; row 1 is nan"),
        ([[1.0]], [0.5], [0.5], r"Expected `rewards` to be 1-D"),
    ],
)
def test_bad_inputs(rewards, target, propensity, message):
    with pytest.raises(ValueError, match=message):
        ips(rewards, target, propensity)


def test_bad_cap():
    with pytest.raises(
        ValueError, match=r"The weight cap `cap` must be a finite number > 0. Got -1"
    ):
        ncis([1.0], [0.5], [0.5], cap=-1)

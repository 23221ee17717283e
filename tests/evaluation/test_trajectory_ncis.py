"""Trajectory NCIS (MTRec sec. 5.1): definition, log-space stability, cap, minus-untrained."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.evaluation.trajectory_ncis import ncis_minus_untrained, trajectory_ncis


def _direct(users, probs, values=None):
    rho, lengths = {}, {}
    for i, (user, p) in enumerate(zip(users, probs, strict=True)):
        rho[user] = rho.get(user, 1.0) * p
        lengths[user] = lengths.get(user, 0.0) + (1.0 if values is None else values[i])
    keys = sorted(rho)
    r = np.array([rho[k] for k in keys])
    length = np.array([lengths[k] for k in keys])
    return float(np.sum(r * length) / np.sum(r))


def test_matches_direct_product_on_short_trajectories():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 200)
    probs = rng.uniform(0.2, 0.95, 200)
    result = trajectory_ncis(users, probs)
    assert result.value == pytest.approx(_direct(users, probs), rel=1e-10)
    assert result.n_users == np.unique(users).size
    clicks = (rng.random(200) < 0.3).astype(float)
    assert trajectory_ncis(users, probs, step_values=clicks).value == pytest.approx(
        _direct(users, probs, clicks), rel=1e-10
    )


def test_no_underflow_on_long_trajectories():
    # 5,000 steps of p = 0.5: the direct product is 0.0 in float64
    users = np.repeat([0, 1], [5000, 4000])
    probs = np.full(users.size, 0.5)
    assert np.prod(probs[:5000]) == 0.0
    result = trajectory_ncis(users, probs)
    # rho_1 / rho_0 = 2**1000, so user 1 takes all the weight
    assert result.value == pytest.approx(4000.0)
    assert result.max_weight == pytest.approx(1.0)
    assert np.isfinite(result.value)


def test_cap_relative_to_the_data_limits_the_largest_weight():
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(100), rng.integers(1, 30, 100))
    probs = rng.uniform(0.05, 1.0, users.size)
    plain = trajectory_ncis(users, probs)
    capped = trajectory_ncis(users, probs, cap_quantile=0.9)
    assert capped.max_weight <= plain.max_weight
    assert capped.ess >= plain.ess


def test_logging_probs_make_an_importance_ratio():
    users = np.array([0, 0, 1])
    probs = np.array([0.5, 0.5, 0.5])
    # dividing by the same logging probabilities as the model's gives rho = 1 for all users
    result = trajectory_ncis(users, probs, logging_probs=probs)
    assert result.value == pytest.approx((2 + 1) / 2)


def test_minus_untrained_and_interval():
    rng = np.random.default_rng(2)
    users = rng.integers(0, 300, 3000)
    trained = rng.uniform(0.3, 0.9, 3000)
    untrained = np.full(3000, 0.5)
    difference = ncis_minus_untrained(users, trained, untrained, n_replicates=200, seed=1)
    expected = trajectory_ncis(users, trained).value - trajectory_ncis(users, untrained).value
    assert difference.value == pytest.approx(expected)
    assert difference.lower <= difference.value <= difference.upper
    single = trajectory_ncis(users, trained, n_replicates=200, seed=1)
    assert single.lower <= single.value <= single.upper


@pytest.mark.parametrize(
    ("probs", "kwargs", "message"),
    [
        ([0.5, 0.0], {}, r"`step_probs` must lie in \(0, 1\]; row 1 is 0.0"),
        ([0.5, 1.2], {}, r"`step_probs` must lie in \(0, 1\]; row 1 is 1.2"),
        ([0.5, 0.5], {"cap_quantile": 0.0}, r"`cap_quantile` must be in \(0, 1\]. Got 0.0"),
        ([0.5, 0.5], {"logging_probs": [0.5]}, r"Expected `logging_probs.shape == \(2,\)`"),
    ],
)
def test_bad_inputs(probs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        trajectory_ncis([1, 2], probs, **kwargs)

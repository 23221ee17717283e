"""Eq. (4) on hand-made P_hat values."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.igl.decoder import decode_rewards, definitely_negative, extreme_events


def test_threshold_boundary_exactly_two_is_not_extreme():
    k = 4
    p_hat = np.array([0.5, 0.5 + 1e-12, 0.25, 0.9, 0.0])
    rewards = decode_rewards(k * p_hat)
    np.testing.assert_array_equal(rewards, [0.0, 1.0, 0.0, 1.0, 0.0])


def test_two_states_never_negative():
    k_p_hat = np.array([0.1, 2.0, 2.5, 7.0])
    rewards = decode_rewards(k_p_hat)
    assert set(rewards.tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(extreme_events(k_p_hat), [False, False, True, True])


@pytest.mark.parametrize("alpha, expected_negative", [(1.0, -1.0), (0.5, -2.0), (0.25, -4.0)])
def test_oracle_and_alpha(alpha, expected_negative):
    k_p_hat = np.array([3.0, 3.0, 1.0, 1.0, 2.0])
    negative = np.array([True, False, True, False, True])
    rewards = decode_rewards(k_p_hat, negative, alpha=alpha)
    # extreme & DN -> -1/alpha; extreme & not DN -> +1; not extreme -> 0 whatever DN says
    np.testing.assert_allclose(rewards, [expected_negative, 1.0, 0.0, 0.0, 0.0])


def test_definitely_negative_oracle():
    feedback = np.array(["like", "dislike", "none", "angry"], dtype=object)
    np.testing.assert_array_equal(
        definitely_negative(feedback, ("dislike", "angry")), [False, True, False, True]
    )
    np.testing.assert_array_equal(definitely_negative(feedback, ()), [False] * 4)


@pytest.mark.parametrize(
    "k_p_hat, negative, alpha, match",
    [
        (np.array([1.0]), None, 0.0, "alpha must be > 0"),
        (np.array([1.0, 2.0]), np.array([True]), 1.0, "negative.shape == k_p_hat.shape"),
        (np.array([np.nan]), None, 1.0, "NaN"),
        (np.ones((2, 2)), None, 1.0, "k_p_hat.ndim == 1"),
    ],
)
def test_bad_inputs(k_p_hat, negative, alpha, match):
    with pytest.raises(ValueError, match=match):
        decode_rewards(k_p_hat, negative, alpha=alpha)

"""Eq. (4) on hand-made P_hat values: every default, boundary, sign and check of the decoder
is pinned by a fast test (``mutmut`` over offline_rl/igl/decoder.py: docs/igl.md)."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.igl.decoder import decode_rewards, definitely_negative, extreme_events


def test_threshold_boundary_exactly_two_is_not_extreme():
    k = 4
    p_hat = np.array([0.5, 0.5 + 1e-12, 0.25, 0.9, 0.0])
    rewards = decode_rewards(k * p_hat)
    np.testing.assert_array_equal(rewards, [0.0, 1.0, 0.0, 1.0, 0.0])
    assert rewards.dtype == np.float64


def test_two_states_never_negative():
    k_p_hat = np.array([0.1, 2.0, 2.5, 7.0])
    rewards = decode_rewards(k_p_hat)
    assert set(rewards.tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(extreme_events(k_p_hat), [False, False, True, True])


def test_the_defaults_are_the_papers():
    """alpha = 1 (2-state IGL embeds in Eq. 4) and threshold 2 (Eq. 3), in both functions."""
    k_p_hat = np.array([2.0, 2.0 + 1e-9, 2.9, 3.1])
    np.testing.assert_array_equal(extreme_events(k_p_hat), [False, True, True, True])
    negative = np.ones(4, dtype=bool)
    np.testing.assert_array_equal(decode_rewards(k_p_hat, negative), [0.0, -1.0, -1.0, -1.0])
    # an explicit threshold is used by both the flag and the reward
    np.testing.assert_array_equal(extreme_events(k_p_hat, threshold=3.0), [False, False, False, True])
    np.testing.assert_array_equal(decode_rewards(k_p_hat, threshold=3.0), [0.0, 0.0, 0.0, 1.0])
    # integer inputs are compared as numbers, not truncated
    np.testing.assert_array_equal(extreme_events(np.array([2, 3])), [False, True])


@pytest.mark.parametrize("alpha, expected_negative", [(1.0, -1.0), (0.5, -2.0), (0.25, -4.0)])
def test_oracle_and_alpha(alpha, expected_negative):
    k_p_hat = np.array([3.0, 3.0, 1.0, 1.0, 2.0])
    negative = np.array([True, False, True, False, True])
    rewards = decode_rewards(k_p_hat, negative, alpha=alpha)
    # extreme & DN -> -1/alpha; extreme & not DN -> +1; not extreme -> 0 whatever DN says
    np.testing.assert_allclose(rewards, [expected_negative, 1.0, 0.0, 0.0, 0.0], rtol=0, atol=0)


def test_no_oracle_is_two_state_igl():
    k_p_hat = np.array([3.0, 1.0])
    np.testing.assert_array_equal(decode_rewards(k_p_hat, None, alpha=0.25), [1.0, 0.0])
    np.testing.assert_array_equal(decode_rewards(k_p_hat, [True, False], alpha=0.25), [-4.0, 0.0])


def test_definitely_negative_oracle():
    feedback = np.array(["like", "dislike", "none", "angry"], dtype=object)
    np.testing.assert_array_equal(
        definitely_negative(feedback, ("dislike", "angry")), [False, True, False, True]
    )
    out = definitely_negative(feedback, ())
    assert out.dtype == bool and out.shape == (4,) and not out.any()
    # any iterable of signals and of feedback (a list, a generator) works the same
    np.testing.assert_array_equal(
        definitely_negative(["dislike", "like"], iter(["dislike"])), [True, False])
    np.testing.assert_array_equal(
        definitely_negative((s for s in ["like", "dislike"]), ["dislike"]), [False, True])
    assert definitely_negative(np.array(["a", "b"]), ["b"]).dtype == bool


@pytest.mark.parametrize(
    "k_p_hat, negative, alpha, match",
    [
        (np.array([1.0]), None, 0.0, r"^alpha must be > 0 \(Eq. 4 decodes to -1/alpha\). Got 0.0\.$"),
        (np.array([1.0]), None, -1.0, r"^alpha must be > 0"),
        (np.array([1.0, 2.0]), np.array([True]), 1.0,
         r"^Expected `negative.shape == k_p_hat.shape`, but found \(1,\) and \(2,\)\.$"),
        (np.array([np.nan]), None, 1.0,
         r"^k_p_hat contains NaN; the IK model produced an invalid probability\.$"),
        (np.ones((2, 2)), None, 1.0, r"^Expected `k_p_hat.ndim == 1`, but found 2\.$"),
    ],
)
def test_bad_inputs(k_p_hat, negative, alpha, match):
    with pytest.raises(ValueError, match=match):
        decode_rewards(k_p_hat, negative, alpha=alpha)


@pytest.mark.parametrize("c", [0.1, 0.25, 0.4, 0.5, 1.0])
def test_eq4_alpha_gives_the_unbiased_value(c):
    """Eq. (4) at eq4_alpha(c) decodes a definitely-negative extreme row to 1 - 2/c, so a bad
    item's expected decoded reward among extreme events is -1 when the oracle fires on a
    share c of them (and +1 for a good one)."""
    from offline_rl.igl.decoder import eq4_alpha

    alpha = eq4_alpha(c)
    r = decode_rewards(np.array([3.0, 3.0]), np.array([True, False]), alpha=alpha)
    assert r[0] == pytest.approx(1 - 2 / c)
    assert c * r[0] + (1 - c) * r[1] == pytest.approx(-1.0)
    # Eq. (4) at alpha = c itself leaves -c, the paper's reading
    r = decode_rewards(np.array([3.0, 3.0]), np.array([True, False]), alpha=c)
    assert c * r[0] + (1 - c) * r[1] == pytest.approx(-c)


@pytest.mark.parametrize("c", [0.0, -0.1, 1.5])
def test_eq4_alpha_refuses_a_propensity_outside_0_1(c):
    from offline_rl.igl.decoder import eq4_alpha

    with pytest.raises(ValueError, match="propensity"):
        eq4_alpha(c)


def test_a_tiny_alpha_is_accepted():
    np.testing.assert_array_equal(decode_rewards(np.array([5.0]), [True], alpha=1e-3), [-1000.0])


def test_inputs_are_converted_as_documented():
    """Signals are compared as given (no conversion to text); a missing K * P_hat is NaN
    (refused by the decoder, never extreme); the oracle mask may be 0/1 integers."""
    np.testing.assert_array_equal(definitely_negative(["dislike", 2, 2.5], ["dislike", 2]),
                                  [True, True, False])
    with pytest.raises(ValueError, match="NaN"):
        decode_rewards([3.0, None])
    np.testing.assert_array_equal(extreme_events([3.0, None]), [True, False])
    np.testing.assert_array_equal(decode_rewards([3.0, 3.0, 1.0], [1, 0, 1], alpha=0.5),
                                  [-2.0, 1.0, 0.0])

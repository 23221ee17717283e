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


def test_every_field_of_every_estimate():
    """Each estimator's name, n, ESS and max weight, not only its value (mutation testing
    found these unchecked)."""
    r, p, pi = _data(2, n=50)
    w = pi / p
    wbar = np.minimum(w, 1.5)
    kish = (w.sum() ** 2 / (w**2).sum(), w.max())
    kish_bar = (wbar.sum() ** 2 / (wbar**2).sum(), wbar.max())
    q = np.linspace(0.1, 0.5, 50)
    cases = [
        (on_policy_mean(r), "on_policy", np.mean(r), (50.0, 1.0)),
        (ips(r, pi, p), "ips", np.mean(w * r), kish),
        (capped_ips(r, pi, p, cap=1.5), "capped_ips", np.mean(wbar * r), kish_bar),
        (snips(r, pi, p), "snips", np.sum(w * r) / np.sum(w), kish),
        (ncis(r, pi, p, cap=1.5), "ncis", np.sum(wbar * r) / np.sum(wbar), kish_bar),
        (direct_method(q), "dm", np.mean(q), (50.0, 1.0)),
        (
            doubly_robust(r, pi, p, reward_logged=q, expected_reward_target=q[::-1]),
            "dr",
            np.mean(q[::-1] + w * (r - q)),
            kish,
        ),
    ]
    for estimate, name, value, (ess, largest) in cases:
        assert estimate.estimator == name
        assert estimate.n == 50
        assert estimate.value == pytest.approx(value, rel=1e-12)
        assert estimate.ess == pytest.approx(ess, rel=1e-12)
        assert estimate.max_weight == pytest.approx(largest, rel=1e-12)


def test_empty_and_degenerate_inputs():
    assert np.isnan(on_policy_mean([]).value) and np.isnan(direct_method([]).value)
    assert direct_method([]).n == 0 and direct_method([]).ess == 0.0
    ess, largest = weight_diagnostics(np.array([]))
    assert ess == 0.0 and np.isnan(largest)
    assert weight_diagnostics(np.zeros(3)) == (0.0, 0.0)
    # a candidate that never takes the logged action: SNIPS/NCIS undefined, IPS 0
    assert np.isnan(snips([1.0, 0.0], [0.0, 0.0], [0.5, 0.5]).value)
    assert np.isnan(ncis([1.0, 0.0], [0.0, 0.0], [0.5, 0.5], cap=2.0).value)
    assert ips([1.0, 0.0], [0.0, 0.0], [0.5, 0.5]).value == 0.0
    # boundaries that are allowed
    assert ips([1.0], [1.0], [1.0]).value == 1.0
    assert ips([1.0], [0.0], [1.0]).value == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: direct_method([0.1, np.inf]), r"`expected_reward_target` must be finite; row 1 is inf"),
        (
            lambda: doubly_robust([1.0], [0.5], [0.5], reward_logged=[0.1, 0.2], expected_reward_target=[0.1]),
            r"Expected `reward_logged.shape\[0\] == 1`, but found 2",
        ),
        (
            lambda: doubly_robust([1.0], [0.5], [0.5], reward_logged=[0.1], expected_reward_target=[np.nan]),
            r"`expected_reward_target` must be finite; row 0 is nan",
        ),
        (lambda: capped_ips([1.0], [0.5], [0.5], cap=float("inf")), r"weight cap `cap` must be a finite number > 0"),
        (lambda: capped_ips([1.0], [0.5], [0.5], cap=0), r"weight cap `cap` must be a finite number > 0. Got 0"),
        (lambda: snips([1.0, 1.0], [0.5], [0.5, 0.5]), r"Expected `propensity.shape\[0\] == 1`, but found 2"),
        (lambda: ips([1.0], [-0.1], [0.5]), r"`target_prob` must lie in \[0, 1\]; row 0 is -0.1"),
        (lambda: ips([1.0], [0.5], [1.5]), r"`propensity` must lie in \(0, 1\]; row 0 is 1.5"),
    ],
)
def test_bad_estimator_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_expected_under_policy_tolerance_and_bounds():
    q = np.array([[1.0, 3.0]])
    assert expected_under_policy([[0.0, 1.0]], q)[0] == 3.0  # 0 and 1 are probabilities
    assert expected_under_policy([[0.25, 0.75 + 0.9e-6]], q)[0] == pytest.approx(2.5, abs=1e-5)
    with pytest.raises(ValueError, match="sums to"):
        expected_under_policy([[0.25, 0.75 + 2e-6]], q)
    with pytest.raises(ValueError, match="sums to"):
        expected_under_policy([[0.25, 0.75 - 2e-6]], q)
    with pytest.raises(ValueError, match=r"row 0, column 0 is 1.5"):
        expected_under_policy([[1.5, -0.5]], q)
    with pytest.raises(ValueError, match=r"`action_probs` must be finite; row 0, column 0 is nan"):
        expected_under_policy([[np.nan, 1.0]], q)
    with pytest.raises(ValueError, match=r"2-D of the same shape"):
        expected_under_policy([0.5, 0.5], [1.0, 3.0])


def _full(message: str) -> str:
    """The whole message, anchored: a mangled name or text must not still match."""
    return "^" + message + "$"


@pytest.mark.parametrize(
    ("estimator", "extra"),
    [
        (ips, {}),
        (capped_ips, {"cap": 2.0}),
        (snips, {}),
        (ncis, {"cap": 2.0}),
        (doubly_robust, {"reward_logged": [0.1, 0.2], "expected_reward_target": [0.3, 0.4]}),
    ],
)
def test_every_estimator_checks_its_rewards(estimator, extra):
    """Each estimator validates the rewards itself: length against the weights, finiteness,
    with the argument's name in the message."""
    with pytest.raises(ValueError, match=_full(r"Expected `rewards.shape\[0\] == 2`, but found 3.")):
        estimator([1.0, 0.0, 1.0], [0.5, 0.5], [0.5, 0.5], **extra)
    with pytest.raises(ValueError, match=_full(r"`rewards` must be finite; row 1 is nan.")):
        estimator([1.0, np.nan], [0.5, 0.5], [0.5, 0.5], **extra)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("reward_logged", r"Expected `reward_logged.shape\[0\] == 2`, but found 3."),
        ("expected_reward_target", r"Expected `expected_reward_target.shape\[0\] == 2`, but found 3."),
    ],
)
def test_doubly_robust_checks_the_model_lengths(argument, message):
    model = {"reward_logged": [0.1, 0.2], "expected_reward_target": [0.3, 0.4]}
    model[argument] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=_full(message)):
        doubly_robust([1.0, 0.0], [0.5, 0.5], [0.5, 0.5], **model)
    model[argument] = [0.1, np.inf]
    with pytest.raises(ValueError, match=_full(rf"`{argument}` must be finite; row 1 is inf.")):
        doubly_robust([1.0, 0.0], [0.5, 0.5], [0.5, 0.5], **model)


def test_missing_values_are_refused_as_nan():
    """A null that reaches the estimators as None is a non-finite value, named by row, not
    a TypeError from inside numpy."""
    with pytest.raises(ValueError, match=_full(r"`rewards` must be finite; row 1 is nan.")):
        ips([1.0, None], [0.5, 0.5], [0.5, 0.5])
    q = np.array([[1.0, 3.0]])
    with pytest.raises(
        ValueError, match=_full(r"`action_probs` must be finite; row 0, column 1 is nan.")
    ):
        expected_under_policy([[1.0, None]], q)
    with pytest.raises(
        ValueError, match=_full(r"`reward_predictions` must be finite; row 0, column 0 is nan.")
    ):
        expected_under_policy([[0.5, 0.5]], [[None, 1.0]])
    with pytest.raises(
        ValueError,
        match=_full(
            r"Expected `action_probs` and `reward_predictions` to be 2-D of the same shape, "
            r"but found \(1, 2\) and \(1, 3\)."
        ),
    ):
        expected_under_policy([[0.5, 0.5]], [[1.0, 2.0, 3.0]])


@pytest.mark.filterwarnings("error")  # no "Mean of empty slice" warning reaches the user
def test_empty_inputs_are_nan_without_warnings():
    for estimate in (on_policy_mean([]), direct_method([])):
        assert np.isnan(estimate.value) and estimate.n == 0 and estimate.ess == 0.0
        assert estimate.max_weight == 1.0


def test_a_hand_computed_example():
    """Three events worked by hand: w = (2, 2, 0.5), capped at 1: (1, 1, 0.5)."""
    rewards, target, propensity = [1.0, 0.0, 1.0], [0.5, 1.0, 0.2], [0.25, 0.5, 0.4]
    ess, ess_capped = 4.5**2 / 8.25, 2.5**2 / 2.25
    cases = [
        (ips(rewards, target, propensity), 2.5 / 3, ess, 2.0),
        (snips(rewards, target, propensity), 2.5 / 4.5, ess, 2.0),
        (capped_ips(rewards, target, propensity, cap=1.0), 1.5 / 3, ess_capped, 1.0),
        (ncis(rewards, target, propensity, cap=1.0), 1.5 / 2.5, ess_capped, 1.0),
        (
            doubly_robust(
                rewards, target, propensity, reward_logged=[0.5] * 3, expected_reward_target=[0.4] * 3
            ),
            0.4 + (2 * 0.5 - 2 * 0.5 + 0.5 * 0.5) / 3,
            ess,
            2.0,
        ),
        (on_policy_mean(rewards), 2 / 3, 3.0, 1.0),
        (direct_method([0.4, 0.1, 0.1]), 0.2, 3.0, 1.0),
    ]
    for estimate, value, ess_expected, largest in cases:
        assert estimate.n == 3
        assert estimate.value == pytest.approx(value, rel=1e-15)
        assert estimate.ess == pytest.approx(ess_expected, rel=1e-15)
        assert estimate.max_weight == largest


def test_weights_summing_to_at_most_one():
    """Small weights are ordinary: a total weight <= 1 is still a defined ratio, a cap below 1
    is a valid cap, and Sum w^2 <= 1 still gives the Kish ESS."""
    # w = (0.2, 0.4): SNIPS = NCIS = 0.2 / 0.6
    assert snips([1.0, 0.0], [0.1, 0.2], [0.5, 0.5]).value == pytest.approx(1 / 3, rel=1e-15)
    assert ncis([1.0, 0.0], [0.1, 0.2], [0.5, 0.5], cap=2.0).value == pytest.approx(1 / 3, rel=1e-15)
    # cap 0.5 < 1: wbar = (0.5, 0.5)
    capped = capped_ips([1.0, 0.0], [0.5, 1.0], [0.5, 0.5], cap=0.5)
    assert (capped.value, capped.max_weight, capped.ess) == (0.25, 0.5, 2.0)
    assert ncis([1.0, 0.0], [0.5, 1.0], [0.5, 0.5], cap=0.5).value == 0.5
    assert weight_diagnostics(np.array([0.5])) == (1.0, 0.5)
    assert weight_diagnostics(np.array([0.3, 0.3])) == pytest.approx((2.0, 0.3), rel=1e-15)


def test_weight_diagnostics_of_a_mask():
    """0/1 weights given as booleans (a deterministic policy matching the log) count events."""
    assert weight_diagnostics(np.array([True, True, False])) == (2.0, 1.0)


@pytest.mark.filterwarnings("error")  # undefined is reported as NaN, not as a RuntimeWarning
def test_zero_total_weight_is_nan_without_warnings():
    assert np.isnan(snips([1.0, 0.0], [0.0, 0.0], [0.5, 0.5]).value)
    assert np.isnan(ncis([1.0, 0.0], [0.0, 0.0], [0.5, 0.5], cap=2.0).value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ips([1.0], [np.nan], [0.5]), r"`target_prob` must be finite; row 0 is nan."),
        (lambda: ips([1.0], [[0.5]], [0.5]), r"Expected `target_prob` to be 1-D, but found shape \(1, 1\)."),
        (lambda: ips([1.0], [0.5], [np.inf]), r"`propensity` must be finite; row 0 is inf."),
        (lambda: on_policy_mean([0.0, np.nan]), r"`rewards` must be finite; row 1 is nan."),
        (lambda: on_policy_mean([[0.0]]), r"Expected `rewards` to be 1-D, but found shape \(1, 1\)."),
        (
            lambda: ips([1.0, 0.0, 1.0], [0.5] * 3, [0.5, 0.5, 1e-320]),
            r"propensity row 2 is 1e-320, below the smallest accepted propensity 1e-12: its "
            r"importance weight would exceed 1e\+12 and decide every estimate alone \(1 such rows\).",
        ),
    ],
)
def test_messages_name_the_argument_and_row(call, message):
    with pytest.raises(ValueError, match=_full(message)):
        call()

"""Coverage of nominal 95% intervals where the truth is known, in hard settings (issue #12).

Every tolerance is derived from the number of data sets: ``z`` standard errors of a coverage
estimate, ``z sqrt(0.95 * 0.05 / reps)``, with ``z`` = 3 Bonferroni-corrected for the
number of coverages the test checks (:func:`binomial_tolerance`; 4.05 for 20 checks). The slow tests use
>= 500 data sets per setting; the fast ones fewer, against the correspondingly wider
tolerance, and still fail when user resampling, the reliability rule or an interval
method is broken. Settings and numbers: tests/evaluation/coverage_study.py and
docs/evaluation.md ("Coverage").
"""

from __future__ import annotations

import pytest

from tests.evaluation.coverage_study import METHODS, TARGETS, binomial_tolerance, measure, worlds

NOMINAL = 0.95
WORLDS = worlds()


def _assert_nominal(result, key, method, *, checks, reliable_only=False, two_sided=True):
    coverage, reps = result.coverage(*key, method, reliable_only=reliable_only)
    tolerance = binomial_tolerance(reps, checks=checks)
    where = f"{result.world}/{result.resample} {key} {method}: {coverage:.3f} over {reps}"
    assert coverage >= NOMINAL - tolerance, where
    if two_sided:
        assert coverage <= NOMINAL + tolerance, where


# ----------------------------------------------------------------------------- fast


def test_user_resampling_covers_clustered_users_where_events_do_not():
    """60 events per user with personalised rates, 50 users: 300 data sets."""
    world = WORLDS["users60"]
    users = measure(world, repetitions=300, n_replicates=300, resample="users", seed=3)
    events = measure(world, repetitions=300, n_replicates=300, resample="events", seed=3)
    for key in TARGETS:
        for method in METHODS:
            _assert_nominal(users, key, method, checks=2 * len(TARGETS) * len(METHODS))
        assert users.reliable[key].all()
    # resampling events ignores the users' correlation: far below nominal for the values
    coverage, reps = events.coverage("on_policy", "value", "percentile")
    assert coverage < NOMINAL - 2 * binomial_tolerance(reps)


def test_heavy_weights_with_rare_rewards_are_flagged_not_shown_confidently():
    """Weights up to 100 and ~15 positives in 2,000 events: the intervals miss the truth
    most of the time, and every data set's lift is flagged unreliable."""
    result = measure(WORLDS["heavy_rare"], repetitions=150, n_replicates=200, seed=4)
    for estimator in ("ips", "snips"):
        coverage, reps = result.coverage(estimator, "lift", "percentile")
        assert coverage < NOMINAL - 2 * binomial_tolerance(reps)
        assert not result.reliable[(estimator, "lift")].any()
        assert not result.reliable[(estimator, "value")].any()


def test_reliable_rows_cover_with_heavy_weights_and_common_rewards():
    """Weights up to 100, common rewards, 2,000 events: the rows the rule passes cover."""
    result = measure(WORLDS["heavy"], repetitions=200, n_replicates=300, seed=5)
    for key in (("snips", "value"), ("snips", "lift"), ("ips", "value")):
        assert result.reliable[key].mean() > 0.5
        for method in ("percentile", "bca"):
            _assert_nominal(result, key, method, checks=6, reliable_only=True, two_sided=False)


# ----------------------------------------------------------------------------- slow

#: Settings where the rule should pass (almost) every data set, and intervals then cover.
COVERED = ("users20", "users60", "heavy_large", "rare", "small", "users60_rare")


@pytest.mark.slow
@pytest.mark.parametrize("name", COVERED)
def test_slow_nominal_coverage_where_the_rule_passes(name):
    result = measure(WORLDS[name], repetitions=500, n_replicates=500, resample="users", seed=11)
    for key in TARGETS:
        assert result.reliable[key].mean() >= 0.9, (name, key)
        for method in ("percentile", "bca"):
            _assert_nominal(result, key, method, checks=20, reliable_only=True, two_sided=False)
            _assert_nominal(result, key, method, checks=20, two_sided=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ("users20", "users60"))
def test_slow_event_resampling_under_covers_clustered_users(name):
    result = measure(WORLDS[name], repetitions=500, n_replicates=500, resample="events", seed=12)
    coverage, reps = result.coverage("snips", "value", "percentile")
    assert coverage < NOMINAL - binomial_tolerance(reps)


@pytest.mark.slow
def test_slow_heavy_weights_reliable_rows_cover():
    result = measure(WORLDS["heavy"], repetitions=500, n_replicates=500, seed=13)
    for key in TARGETS:
        for method in ("percentile", "bca"):
            _assert_nominal(result, key, method, checks=10, reliable_only=True, two_sided=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ("heavy_rare", "soft_rare"))
def test_slow_hard_settings_are_flagged(name):
    result = measure(WORLDS[name], repetitions=500, n_replicates=500, seed=14)
    for estimator in ("ips", "snips"):
        key = (estimator, "lift")
        coverage, reps = result.coverage(*key, "percentile")
        assert coverage < NOMINAL - binomial_tolerance(reps)
        assert result.reliable[key].mean() <= 0.05

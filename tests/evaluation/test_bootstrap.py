"""Bootstrap: coverage where the truth is known (vectorised over repetitions), shared resample,
Poisson sampler exactness, seeding, cluster bootstrap and blocking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offline_rl.evaluation.bootstrap import bootstrap_functionals, poisson_one
from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.design import build_design
from offline_rl.evaluation.statistics import Functional, functional_values, reduce_to_units

#: The simulated world: 4 contexts (uniform), 4 actions, logging policy uniform.
MEAN_REWARD = np.array(
    [
        [0.10, 0.30, 0.20, 0.05],
        [0.40, 0.10, 0.15, 0.20],
        [0.05, 0.05, 0.50, 0.25],
        [0.20, 0.35, 0.10, 0.30],
    ]
)
TARGET = np.array(
    [[0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.8, 0.1], [0.2, 0.5, 0.1, 0.2]]
)
TRUE_VALUE = float(np.mean(np.sum(TARGET * MEAN_REWARD, axis=1)))
TRUE_LOGGED = float(np.mean(MEAN_REWARD))
TRUE_LIFT = TRUE_VALUE / TRUE_LOGGED - 1


def simulate_units(
    repetitions: int, n: int, seed: int
) -> tuple[np.ndarray, list[Functional], list]:
    """``(repetitions, n, k)`` per-event statistics of independent logged data sets."""
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, 4, (repetitions, n))
    actions = rng.integers(0, 4, (repetitions, n))
    rewards = (rng.random((repetitions, n)) < MEAN_REWARD[contexts, actions]).astype(float)
    design = build_design(
        propensity=np.full(repetitions * n, 0.25),
        policies={"target": TARGET[contexts, actions].ravel()},
        rewards={"click": rewards.ravel()},
        estimators=("ips", "snips"),
    )
    stats = design.statistics().reshape(repetitions, n, len(design.columns))
    return stats, design.functionals, design.keys


def _coverage(intervals: np.ndarray, truth: float) -> float:
    return float(np.mean((intervals[:, 0] <= truth) & (truth <= intervals[:, 1])))


@pytest.fixture(scope="module")
def coverage_run():
    units, functionals, keys = simulate_units(repetitions=600, n=800, seed=7)
    boot = bootstrap_functionals(units, functionals, n_replicates=400, seed=11)
    delta = delta_intervals(units, functionals)
    names = [f"{k.estimator}/{k.quantity}" for k in keys]
    return boot, delta, names


@pytest.mark.parametrize(
    ("name", "truth"),
    [
        ("ips/value", TRUE_VALUE),
        ("snips/value", TRUE_VALUE),
        ("ips/lift", TRUE_LIFT),
        ("snips/lift", TRUE_LIFT),
        ("on_policy/value", TRUE_LOGGED),
    ],
)
def test_nominal_95_percent_intervals_cover_93_to_97_percent(coverage_run, name, truth):
    boot, delta, names = coverage_run
    index = names.index(name)
    for intervals in (boot.percentile[:, index], boot.bca[:, index], delta.interval[:, index]):
        assert 0.93 <= _coverage(intervals, truth) <= 0.97
    # the point is the full-sample estimate, not the replicate mean
    np.testing.assert_allclose(boot.point, delta.point)


#: A second candidate: the "retrained production model" the lift is measured against.
BASELINE = np.array(
    [[0.4, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25], [0.1, 0.1, 0.4, 0.4], [0.1, 0.7, 0.1, 0.1]]
)
TRUE_BASELINE_LIFT = TRUE_VALUE / float(np.mean(np.sum(BASELINE * MEAN_REWARD, axis=1))) - 1


@pytest.fixture(scope="module")
def baseline_coverage_run():
    repetitions, n = 600, 800
    rng = np.random.default_rng(17)
    contexts = rng.integers(0, 4, (repetitions, n))
    actions = rng.integers(0, 4, (repetitions, n))
    rewards = (rng.random((repetitions, n)) < MEAN_REWARD[contexts, actions]).astype(float)
    design = build_design(
        propensity=np.full(repetitions * n, 0.25),
        policies={"target": TARGET[contexts, actions].ravel(),
                  "production": BASELINE[contexts, actions].ravel()},
        rewards={"click": rewards.ravel()},
        estimators=("ips", "snips"),
        baseline="production",
    )
    units = design.statistics().reshape(repetitions, n, len(design.columns))
    boot = bootstrap_functionals(units, design.functionals, n_replicates=400, seed=19)
    delta = delta_intervals(units, design.functionals)
    names = [f"{k.policy}/{k.estimator}/{k.quantity}" for k in design.keys]
    return boot, delta, names


@pytest.mark.parametrize("estimator", ["ips", "snips"])
def test_lift_over_a_baseline_policy_covers_the_true_ratio(baseline_coverage_run, estimator):
    """Lift of one candidate over another, both estimated from the same logs (the ratio of
    two estimates, resampled together): 600 data sets, SE of the coverage 0.009."""
    boot, delta, names = baseline_coverage_run
    assert "production/snips/lift" not in names  # the baseline has no lift over itself
    index = names.index(f"target/{estimator}/lift")
    for intervals in (boot.percentile[:, index], boot.bca[:, index], delta.interval[:, index]):
        assert 0.93 <= _coverage(intervals, TRUE_BASELINE_LIFT) <= 0.97
    # unbiased to within 4 standard errors of the mean over the 600 data sets
    points = delta.point[:, index]
    assert abs(points.mean() - TRUE_BASELINE_LIFT) < 4 * points.std() / math.sqrt(points.size)


def test_bootstrap_and_delta_standard_errors_agree(coverage_run):
    boot, delta, _ = coverage_run
    ratio = boot.standard_error / delta.standard_error
    assert np.median(ratio) == pytest.approx(1.0, abs=0.03)


def test_poisson_sampler_matches_poisson_one_distribution():
    draws = poisson_one(np.random.default_rng(0), (2_000_000,))
    frequencies = np.bincount(draws.astype(int), minlength=8)[:8] / draws.size
    expected = np.array([math.exp(-1) / math.factorial(k) for k in range(8)])
    assert np.all(np.abs(frequencies - expected) <= 5 * np.sqrt(expected / draws.size) + 1e-6)
    assert draws.mean() == pytest.approx(1.0, abs=0.003)
    assert draws.var() == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("method", ["poisson", "multinomial"])
def test_seeded_and_shared(method):
    rng = np.random.default_rng(3)
    stats = np.column_stack([np.ones(500), rng.random(500), rng.random(500)])
    functionals = [
        Functional("a", ((1, 1),)),
        Functional("b", ((2, 1),)),
        Functional("a/b", ((1, 1), (2, -1))),
    ]
    first = bootstrap_functionals(stats, functionals, n_replicates=50, method=method, seed=5)
    second = bootstrap_functionals(stats, functionals, n_replicates=50, method=method, seed=5)
    np.testing.assert_array_equal(first.replicates, second.replicates)
    # one shared resample: the ratio functional is the ratio of the other two in every replicate
    np.testing.assert_allclose(
        first.replicates[:, 2], first.replicates[:, 0] / first.replicates[:, 1]
    )
    assert first.point[2] == pytest.approx(stats[:, 1].sum() / stats[:, 2].sum())


def test_multinomial_keeps_the_sample_size():
    stats = np.ones((300, 2))
    result = bootstrap_functionals(
        stats, [Functional("x", ((1, 1),))], n_replicates=20, method="multinomial"
    )
    np.testing.assert_allclose(result.replicates, 1.0)


def test_cluster_units_sum_each_user():
    stats = np.column_stack([np.ones(6), np.arange(6.0)])
    units = reduce_to_units(stats, clusters=np.array(["u", "v", "u", "w", "v", "u"]))
    np.testing.assert_allclose(units, [[3, 0 + 2 + 5], [2, 1 + 4], [1, 3]])
    # the ratio estimator over users equals the event-level mean
    assert functional_values(units.sum(axis=0), [Functional("m", ((1, 1),))])[0] == pytest.approx(
        2.5
    )


def test_cluster_bootstrap_is_wider_for_correlated_users():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(200), 20)
    rewards = (rng.random(200) < 0.5)[users].astype(float)  # a user's events are identical
    stats = np.column_stack([np.ones(users.size), rewards])
    functionals = [Functional("mean", ((1, 1),))]
    events = bootstrap_functionals(stats, functionals, n_replicates=200)
    clustered = bootstrap_functionals(
        reduce_to_units(stats, clusters=users), functionals, n_replicates=200
    )
    assert clustered.standard_error[0] > 3 * events.standard_error[0]
    assert clustered.standard_error[0] == pytest.approx(0.5 / np.sqrt(200), rel=0.2)


def test_blocks_preserve_sums_and_standard_error():
    rng = np.random.default_rng(1)
    stats = np.column_stack([np.ones(50_000), rng.random(50_000) < 0.2])
    blocks = reduce_to_units(stats, max_units=2000, seed=3)
    assert blocks.shape == (2000, 2)
    np.testing.assert_allclose(blocks.sum(axis=0), stats.sum(axis=0))
    assert set(np.unique(blocks[:, 0])) == {25.0}
    functionals = [Functional("mean", ((1, 1),))]
    exact = delta_intervals(stats, functionals).standard_error[0]
    blocked = bootstrap_functionals(blocks, functionals, n_replicates=1000).standard_error[0]
    assert blocked == pytest.approx(exact, rel=0.08)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_replicates": 1}, r"`n_replicates` must be an int >= 2. Got 1 instead."),
        (
            {"method": "jackknife"},
            r"The 'method' parameter must be a str among \{'poisson', 'multinomial'\}. Got 'jackknife'",
        ),
        ({"confidence": 1.5}, r"`confidence` must be in \(0, 1\). Got 1.5 instead."),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_functionals(np.ones((10, 2)), [Functional("x", ((1, 1),))], **kwargs)


def test_functional_rejects_the_count_column():
    with pytest.raises(ValueError, match="uses column 0, the event count"):
        Functional("bad", ((0, 1),))


@pytest.mark.slow
def test_blocked_bootstrap_covers_93_to_97_percent():
    """The default large-n path (random blocks of events) keeps nominal coverage."""
    units, functionals, keys = simulate_units(repetitions=500, n=6000, seed=21)
    blocked = np.stack([reduce_to_units(u, max_units=500, seed=r) for r, u in enumerate(units)])
    boot = bootstrap_functionals(blocked, functionals, n_replicates=300, seed=4)
    names = [f"{k.estimator}/{k.quantity}" for k in keys]
    for name, truth in (
        ("ips/value", TRUE_VALUE),
        ("snips/value", TRUE_VALUE),
        ("snips/lift", TRUE_LIFT),
    ):
        assert 0.93 <= _coverage(boot.percentile[:, names.index(name)], truth) <= 0.97


def _jackknife_acceleration(statistic, data: np.ndarray) -> float:
    """Efron & Tibshirani eq. 14.15, by leaving out one row at a time."""
    n = data.shape[0]
    values = np.array([statistic(np.delete(data, i, axis=0)) for i in range(n)])
    d = values.mean() - values
    return float(np.sum(d**3) / (6.0 * np.sum(d**2) ** 1.5))


def test_bca_matches_a_hand_computed_bca_on_a_skewed_sample():
    """z0 from the replicates, the jackknife acceleration (equal to the influence-function one
    for a mean), and the adjusted quantiles: a wrong sign, scale or missing term fails."""
    from scipy.special import ndtr, ndtri

    x = np.random.default_rng(12).exponential(1.0, 25) ** 2  # strongly right-skewed
    units = np.column_stack([np.ones(x.size), x])
    result = bootstrap_functionals(
        units, [Functional("mean", ((1, 1),))], n_replicates=4000, method="multinomial", seed=2
    )
    replicates, point = result.replicates[:, 0], result.point[0]
    acceleration = _jackknife_acceleration(np.mean, x)
    assert acceleration > 0.05  # the test has teeth: BCa differs from percentile here
    z0 = ndtri(np.mean(replicates < point) + 0.5 * np.mean(replicates == point))
    expected = []
    for tail in (0.025, 0.975):
        z = z0 + ndtri(tail)
        expected.append(np.quantile(replicates, ndtr(z0 + z / (1 - acceleration * z))))
    np.testing.assert_allclose(result.bca[0], expected, rtol=1e-10)
    assert not np.allclose(result.bca[0], result.percentile[0], rtol=1e-3)


def test_bca_acceleration_of_a_ratio_matches_the_jackknife():
    from offline_rl.evaluation.bootstrap import _acceleration

    rng = np.random.default_rng(13)
    w = rng.exponential(1.0, 60) ** 1.5
    r = (rng.random(60) < 0.3).astype(float)
    units = np.column_stack([np.ones(60), w * r, w])
    influence = _acceleration(units[None], [Functional("snips", ((1, 1), (2, -1)))])[0, 0]
    jackknife = _jackknife_acceleration(lambda d: d[:, 1].sum() / d[:, 2].sum(), units)
    assert influence == pytest.approx(jackknife, rel=0.1)  # agree to O(1/n)


def test_bca_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(14).lognormal(0.0, 1.0, 40)
    ours = bootstrap_functionals(
        np.column_stack([np.ones(x.size), x]), [Functional("mean", ((1, 1),))],
        n_replicates=20000, method="multinomial", seed=5,
    )
    theirs = stats.bootstrap(
        (x,), np.mean, n_resamples=20000, method="BCa", random_state=np.random.default_rng(6)
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours.bca[0, 0] == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.bca[0, 1] == pytest.approx(theirs.high, abs=0.05 * width)

"""Paired cluster bootstrap of AUC and NCIS differences (offline_rl.evaluation.paired)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from offline_rl.evaluation.auc import roc_auc
from offline_rl.evaluation.paired import (
    cluster_counts,
    paired_auc_difference,
    paired_ncis_difference,
)
from offline_rl.evaluation.trajectory_ncis import ncis_minus_untrained, trajectory_ncis


def _clustered(seed: int, clusters: int = 40, effect: float = 0.3):
    """Rows in clusters with a shared cluster effect; two scores that share most of their noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 9, clusters)
    cluster = np.repeat(np.arange(clusters), sizes)
    latent = rng.normal(size=clusters)[cluster] + rng.normal(size=cluster.size)
    labels = (latent + rng.normal(size=cluster.size) > 0).astype(int)
    base = latent + rng.normal(scale=1.0, size=cluster.size)
    other = base + effect * latent + rng.normal(scale=0.2, size=cluster.size)
    return labels, base, other, cluster


def _resampled(counts: np.ndarray, cluster: np.ndarray):
    """Row indices of the data set that duplicates cluster g counts[g] times, and a copy id."""
    rows, copies = [], []
    copy = 0
    for g, count in enumerate(counts):
        members = np.flatnonzero(cluster == g)
        for _ in range(count):
            rows.append(members)
            copies.append(np.full(members.size, copy))
            copy += 1
    return np.concatenate(rows), np.concatenate(copies)


def test_point_is_the_full_sample_difference_of_exact_aucs():
    labels, base, other, cluster = _clustered(0)
    result = paired_auc_difference(labels, base, other, cluster, n_replicates=50)
    assert result.base == pytest.approx(roc_auc(labels, base), abs=1e-12)
    assert result.other == pytest.approx(roc_auc(labels, other), abs=1e-12)
    assert result.difference == pytest.approx(result.other - result.base, abs=1e-15)
    assert result.n_clusters == 40 and result.n_replicates == 50


def test_each_auc_replicate_is_the_auc_of_the_resampled_data_set():
    labels, base, other, cluster = _clustered(1)
    result = paired_auc_difference(labels, base, other, cluster, n_replicates=4, seed=7)
    counts = np.concatenate(list(cluster_counts(40, 4, seed=7)))
    for b in range(4):
        rows, _ = _resampled(counts[b], cluster)
        expected = roc_auc(labels[rows], other[rows]) - roc_auc(labels[rows], base[rows])
        assert result.replicates[b] == pytest.approx(expected, abs=1e-12)


def test_ties_count_one_half_inside_replicates():
    # all scores tied: every weighted AUC is exactly 1/2, so every replicate difference is 0
    labels = np.array([0, 1, 0, 1, 1, 0])
    tied = np.zeros(6)
    result = paired_auc_difference(labels, tied, tied + 1.0, [0, 0, 1, 1, 2, 2], n_replicates=20)
    assert result.base == result.other == 0.5
    assert np.all(result.replicates[np.isfinite(result.replicates)] == 0.0)


def test_percentile_interval_and_standard_error_come_from_the_replicates():
    labels, base, other, cluster = _clustered(2)
    result = paired_auc_difference(labels, base, other, cluster, n_replicates=400, seed=3)
    low, high = np.quantile(result.replicates, [0.025, 0.975])
    assert (result.lower, result.upper) == pytest.approx((low, high))
    assert result.standard_error == pytest.approx(np.std(result.replicates, ddof=1))
    assert result.lower < result.difference < result.upper


def test_identical_models_have_a_zero_width_interval():
    labels, base, _, cluster = _clustered(3)
    result = paired_auc_difference(labels, base, base.copy(), cluster, n_replicates=30)
    assert result.difference == result.lower == result.upper == 0.0
    assert result.direction == ""


def test_pairing_is_much_narrower_than_comparing_two_unpaired_intervals():
    """The motivation: two close models' AUCs are strongly correlated across resamples."""
    labels, base, _, cluster = _clustered(4, clusters=200)
    rng = np.random.default_rng(0)
    other = base + rng.normal(scale=0.05, size=base.size)
    paired = paired_auc_difference(labels, base, other, cluster, n_replicates=300)
    alone = paired_auc_difference(labels, np.zeros_like(base), base, cluster, n_replicates=300)
    # alone.standard_error is the SE of AUC(base) itself (0.5 is a constant)
    assert paired.standard_error < alone.standard_error / 3


def test_clusters_widen_the_interval_when_rows_repeat_within_a_user():
    labels, base, other, cluster = _clustered(5, clusters=60, effect=0.2)
    # every row written 4 times: a row-level bootstrap would think it has 4x the data
    rows = np.repeat(np.arange(labels.size), 4)
    by_user = paired_auc_difference(labels[rows], base[rows], other[rows], cluster[rows],
                                    n_replicates=300)
    by_row = paired_auc_difference(labels[rows], base[rows], other[rows], np.arange(rows.size),
                                   n_replicates=300)
    assert by_user.standard_error > 1.5 * by_row.standard_error


def test_direction_marks_intervals_away_from_zero():
    labels, base, other, cluster = _clustered(6, clusters=300, effect=1.0)
    better = paired_auc_difference(labels, base, other, cluster, n_replicates=200)
    assert better.lower > 0 and better.direction == "higher"
    worse = paired_auc_difference(labels, other, base, cluster, n_replicates=200)
    assert worse.upper < 0 and worse.direction == "lower"
    assert worse.difference == pytest.approx(-better.difference)


def test_same_seed_same_result_and_chunks_do_not_change_the_draws():
    labels, base, other, cluster = _clustered(7)
    one = paired_auc_difference(labels, base, other, cluster, n_replicates=100, seed=11)
    two = paired_auc_difference(labels, base, other, cluster, n_replicates=100, seed=11)
    assert np.array_equal(one.replicates, two.replicates)
    whole = np.concatenate(list(cluster_counts(40, 10, seed=2)))
    pieces = np.concatenate(list(cluster_counts(40, 10, seed=2, chunk=3)))
    assert np.array_equal(whole, pieces)
    assert (whole.sum(axis=1) == 40).all()  # each replicate draws G clusters


# ------------------------------------------------------------------------------------ NCIS
def _trajectories(seed: int, users: int = 25):
    rng = np.random.default_rng(seed)
    sessions = rng.integers(1, 4, users)
    session_user = np.repeat(np.arange(users), sessions)
    lengths = rng.integers(1, 12, session_user.size)
    session = np.repeat(np.arange(session_user.size), lengths)
    user = session_user[session]
    base = rng.uniform(0.2, 0.9, session.size)
    other = np.clip(base + rng.normal(scale=0.05, size=base.size), 0.05, 1.0)
    reference = rng.uniform(0.4, 0.6, session.size)
    return session, user, base, other, reference


def test_ncis_point_matches_trajectory_ncis():
    session, user, base, other, reference = _trajectories(0)
    plain = paired_ncis_difference(session, user, base, other, n_replicates=20)
    assert plain.base == pytest.approx(trajectory_ncis(session, base).value, rel=1e-12)
    assert plain.other == pytest.approx(trajectory_ncis(session, other).value, rel=1e-12)
    # minus the untrained networks' NCIS, each side with its own reference
    other_reference = np.clip(reference + 0.1, 0.0, 1.0)
    minus = paired_ncis_difference(session, user, base, other, base_reference=reference,
                                   other_reference=other_reference, n_replicates=20)
    assert minus.base == pytest.approx(
        ncis_minus_untrained(session, base, reference).value, rel=1e-10)
    assert minus.other == pytest.approx(
        ncis_minus_untrained(session, other, other_reference).value, rel=1e-10)


def test_each_ncis_replicate_is_the_ncis_of_the_resampled_data_set():
    session, user, base, other, reference = _trajectories(1)
    result = paired_ncis_difference(session, user, base, other, base_reference=reference,
                                    other_reference=reference, n_replicates=3, seed=5)
    counts = np.concatenate(list(cluster_counts(25, 3, seed=5)))
    for b in range(3):
        rows, copy = _resampled(counts[b], user)
        keys = copy * 1000 + session[rows]  # a copied user's sessions are new trajectories
        expected = (ncis_minus_untrained(keys, other[rows], reference[rows]).value
                    - ncis_minus_untrained(keys, base[rows], reference[rows]).value)
        assert result.replicates[b] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_ncis_step_values_and_errors():
    session, user, base, other, _ = _trajectories(2)
    clicks = (np.arange(session.size) % 3 == 0).astype(float)
    result = paired_ncis_difference(session, user, base, other, step_values=clicks,
                                    n_replicates=10)
    assert result.other == pytest.approx(
        trajectory_ncis(session, other, step_values=clicks).value, rel=1e-12)
    with pytest.raises(ValueError, match="spans several clusters"):
        paired_ncis_difference([0, 0, 1], [0, 1, 1], [0.5] * 3, [0.5] * 3)
    with pytest.raises(ValueError, match=r"step_probs` must lie in \(0, 1\]"):
        paired_ncis_difference([0, 0, 1], [0, 0, 1], [0.5, 0.0, 0.5], [0.5] * 3)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0, 2, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0, 0, 1]), "must be binary"),
        (([0, 1, 1], [0.1, 0.2], [0.1, 0.2, 0.3], [0, 0, 1]), "equal length"),
        (([1, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0, 0, 1]), "Only one class"),
        (([0, 1, 1], [0.1, np.nan, 0.3], [0.1, 0.2, 0.3], [0, 0, 1]), "`base_scores` must be finite"),
        (([0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0, 1]), "`clusters` of length 3"),
    ],
)
def test_auc_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        paired_auc_difference(*args)


def test_bad_settings():
    with pytest.raises(ValueError, match="n_replicates"):
        paired_auc_difference([0, 1], [0.1, 0.2], [0.2, 0.1], [0, 1], n_replicates=1)
    with pytest.raises(ValueError, match="confidence"):
        paired_auc_difference([0, 1], [0.1, 0.2], [0.2, 0.1], [0, 1], confidence=1.0)


def test_the_module_does_not_import_torch():
    code = "import sys, offline_rl.evaluation.paired; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_auc_interval_covers_the_population_difference():
    """Coverage by simulation: clustered data whose population AUC difference is known.

    200 data sets of 150 clusters; the population difference is the difference on 20,000
    clusters. Nominal 95%: the count of covering intervals is Binomial(200, 0.95), whose
    2.5% quantile is 184; we allow down to 182 (the percentile interval undercovers a little
    at this size) and ask for at most 199. Measured: 187 of 200 (about 3 s).
    """
    def draw(rng, clusters):
        sizes = rng.integers(2, 9, clusters)
        cluster = np.repeat(np.arange(clusters), sizes)
        latent = rng.normal(size=clusters)[cluster] + rng.normal(size=cluster.size)
        labels = latent + rng.normal(size=cluster.size) > 0
        base = latent + rng.normal(size=cluster.size)
        other = base + 0.15 * latent + rng.normal(scale=0.3, size=cluster.size)
        return labels, base, other, cluster

    labels, base, other, _ = draw(np.random.default_rng(123), 20000)
    truth = roc_auc(labels, other) - roc_auc(labels, base)
    rng = np.random.default_rng(0)
    covered = 0
    for repetition in range(200):
        result = paired_auc_difference(*draw(rng, 150), n_replicates=400, seed=repetition)
        covered += result.lower <= truth <= result.upper
    assert 182 <= covered <= 199, covered

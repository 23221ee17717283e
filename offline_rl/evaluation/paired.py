"""Paired cluster-bootstrap intervals for the difference of two models on one test set.

Two models scored on the same rows share the rows' noise, so the question "is B better than
A?" is answered by the distribution of ``stat(B) - stat(A)`` under *one* resample applied to
both, not by comparing two unpaired standard errors (which ignore the covariance and are
several times too wide when the models are close). Rows are correlated within a user (or a
session), so the resampled unit is the cluster: each replicate ``b`` draws ``G`` clusters with
replacement (multinomial counts ``c_bg``), gives every row of cluster ``g`` the weight
``c_bg``, and recomputes both statistics from the weighted rows. The same seed gives the same
counts, so every difference computed with one seed and one clustering shares the resample.

.. math::

    \\Delta^* _b = T(B; c_b) - T(A; c_b), \\qquad
    [\\Delta^*_{(\\alpha/2)}, \\Delta^*_{(1 - \\alpha/2)}] \\text{ (percentile interval)},

and the reported point is the full-sample difference ``T(B) - T(A)``.

Statistics: the ROC AUC (Mann-Whitney with average ranks for ties; a weighted row counts
``c_bg`` times, so the replicate AUC equals the AUC of the resampled data set with its
duplicated clusters) and MTRec's trajectory NCIS
``J = sum_i rho_i L_i / sum_i rho_i`` (:mod:`.trajectory_ncis`), optionally minus a
reference model's ``J`` (the untrained network) on each side.

References
----------
Field, C. and Welsh, A. (2007). Bootstrapping clustered data. *JRSS B* 69(3). Efron, B. and
Tibshirani, R. (1993). *An Introduction to the Bootstrap*, ch. 13 (percentile interval).
Deng, A., Knoblich, U. and Lu, J. (2018). Applying the delta method in metric analytics.
*KDD* (users as the unit of randomisation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from offline_rl.evaluation.trajectory_ncis import trajectory_log_weights

#: Largest number of float64 replicate weights held at once (32 MiB).
_WEIGHT_BUDGET = 1 << 22


@dataclass(frozen=True)
class PairedDifference:
    """``statistic(other) - statistic(base)`` with its paired cluster-bootstrap interval.

    Attributes
    ----------
    statistic
        What was compared (``"auc"``, ``"ncis"``).
    base, other
        Full-sample statistic of each model.
    difference
        ``other - base`` on the full sample.
    lower, upper
        Percentile interval of the replicate differences at ``confidence``.
    standard_error
        Standard deviation of the replicate differences.
    confidence
        Two-sided nominal coverage.
    n_clusters, n_replicates
        Clusters resampled and replicates drawn.
    replicates
        ``(n_replicates,)`` replicate differences (NaN where a replicate left a statistic
        undefined, e.g. an AUC with one class).
    """

    statistic: str
    base: float
    other: float
    difference: float
    lower: float
    upper: float
    standard_error: float
    confidence: float
    n_clusters: int
    n_replicates: int
    replicates: np.ndarray = field(repr=False, compare=False)

    @property
    def direction(self) -> str:
        """``"higher"`` if the interval lies above 0, ``"lower"`` if below, else ``""``."""
        if self.lower > 0:
            return "higher"
        if self.upper < 0:
            return "lower"
        return ""


def cluster_index(clusters) -> tuple[np.ndarray, int]:
    """Dense cluster index of each row (order of ``numpy.unique``) and the number of clusters."""
    labels = np.asarray(clusters)
    if labels.ndim != 1:
        raise ValueError(f"Expected 1-D `clusters`, but found shape {labels.shape}.")
    uniques, index = np.unique(labels, return_inverse=True)
    return index.ravel().astype(np.int64), int(uniques.shape[0])


def cluster_counts(n_clusters: int, n_replicates: int, *, seed: int = 0,
                   chunk: int | None = None) -> Iterator[np.ndarray]:
    """Chunks ``(b, G)`` of multinomial counts: each row draws ``G`` clusters with replacement.

    The concatenated chunks depend on ``(n_clusters, n_replicates, seed)`` only, not on
    ``chunk``: every replicate's counts come from the generator in the same order.
    """
    if n_clusters < 1:
        raise ValueError(f"Need at least 1 cluster to resample; got {n_clusters}.")
    if n_replicates < 2:
        raise ValueError(f"`n_replicates` must be an int >= 2. Got {n_replicates!r} instead.")
    rng = np.random.default_rng(seed)
    step = chunk or max(1, _WEIGHT_BUDGET // n_clusters)
    for start in range(0, n_replicates, step):
        rows = min(step, n_replicates - start)
        draws = rng.integers(0, n_clusters, size=(rows, n_clusters), dtype=np.int64)
        draws += (np.arange(rows, dtype=np.int64) * n_clusters)[:, None]
        yield np.bincount(draws.ravel(), minlength=rows * n_clusters).reshape(rows, n_clusters)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Got {confidence!r} instead.")


def _summary(statistic: str, base: float, other: float, replicates: np.ndarray,
             confidence: float, n_clusters: int) -> PairedDifference:
    alpha = 1.0 - confidence
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:
        lower = upper = standard_error = float("nan")
    else:
        lower, upper = (float(x) for x in np.quantile(finite, [alpha / 2, 1 - alpha / 2]))
        standard_error = float(np.std(finite, ddof=1))
    return PairedDifference(statistic, float(base), float(other), float(other - base),
                            lower, upper, standard_error, confidence, n_clusters,
                            int(replicates.shape[0]), replicates)


# ----------------------------------------------------------------------------------- AUC
class _SortedScores:
    """One model's rows sorted by score with its tie blocks, for weighted AUCs in O(n)."""

    def __init__(self, labels: np.ndarray, scores: np.ndarray, cluster: np.ndarray) -> None:
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        self.positive = labels[order].astype(np.float64)
        self.cluster = cluster[order]
        self.starts = np.flatnonzero(
            np.concatenate(([True], sorted_scores[1:] != sorted_scores[:-1])))

    def auc(self, cluster_weights: np.ndarray) -> np.ndarray:
        """AUC under row weights ``cluster_weights[:, cluster]``, one per row of the (b, G) input."""
        weights = cluster_weights[:, self.cluster].astype(np.float64)
        positive = weights * self.positive
        negative = weights - positive
        block_positive = np.add.reduceat(positive, self.starts, axis=1)
        block_negative = np.add.reduceat(negative, self.starts, axis=1)
        below = np.cumsum(block_negative, axis=1) - block_negative
        pairs = block_positive.sum(axis=1) * block_negative.sum(axis=1)
        numerator = np.sum(block_positive * (below + 0.5 * block_negative), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pairs > 0, numerator / pairs, np.nan)


def _auc_inputs(labels, base_scores, other_scores, clusters):
    y = np.asarray(labels)
    scores = [np.asarray(s, dtype=np.float64) for s in (base_scores, other_scores)]
    if y.ndim != 1 or any(s.shape != y.shape for s in scores):
        raise ValueError(
            "Expected 1-D `labels`, `base_scores` and `other_scores` of equal length, but found "
            f"{y.shape}, {scores[0].shape} and {scores[1].shape}.")
    values = y.astype(np.float64, copy=False)
    bad = (values != 0) & (values != 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`labels` must be binary (0/1 or bool); row {row} is {y[row].item()!r}.")
    for name, s in zip(("base_scores", "other_scores"), scores, strict=True):
        if not np.isfinite(s).all():
            row = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ValueError(f"`{name}` must be finite; row {row} is {s[row].item()!r}.")
    positive = values == 1
    if positive.all() or not positive.any():
        raise ValueError("Only one class present in `labels`; ROC AUC is undefined.")
    index, n_clusters = cluster_index(clusters)
    if index.shape != y.shape:
        raise ValueError(f"Expected `clusters` of length {y.shape[0]}, but found {index.shape[0]}.")
    return positive, scores[0], scores[1], index, n_clusters


def paired_auc_difference(
    labels, base_scores, other_scores, clusters, *, n_replicates: int = 1000,
    confidence: float = 0.95, seed: int = 0,
) -> PairedDifference:
    """``AUC(other) - AUC(base)`` on the same rows, clusters resampled once for both.

    Parameters
    ----------
    labels
        ``(n,)`` binary labels.
    base_scores, other_scores
        ``(n,)`` finite scores of the two models on the same rows.
    clusters
        ``(n,)`` cluster (user or session) of each row: the unit resampled.
    n_replicates, confidence, seed
        Bootstrap replicates, interval level, seed of the resample.
    """
    _check_confidence(confidence)
    positive, base, other, index, n_clusters = _auc_inputs(labels, base_scores, other_scores,
                                                           clusters)
    ones = np.ones((1, n_clusters))
    sorted_base = _SortedScores(positive, base, index)
    sorted_other = _SortedScores(positive, other, index)
    point_base, point_other = sorted_base.auc(ones)[0], sorted_other.auc(ones)[0]
    replicates = []
    chunk = max(1, _WEIGHT_BUDGET // max(positive.shape[0], 1))
    for counts in cluster_counts(n_clusters, n_replicates, seed=seed, chunk=chunk):
        replicates.append(sorted_other.auc(counts) - sorted_base.auc(counts))
    return _summary("auc", point_base, point_other, np.concatenate(replicates), confidence,
                    n_clusters)


# ---------------------------------------------------------------------------------- NCIS
def _ncis_cluster_sums(trajectory: np.ndarray, cluster_of_trajectory: np.ndarray, n_clusters: int,
                       probs, lengths: np.ndarray) -> np.ndarray:
    """``(2, G)``: per cluster, ``sum rho_i L_i`` and ``sum rho_i`` over its trajectories."""
    log_rho, _ = trajectory_log_weights(trajectory, probs)
    rho = np.exp(log_rho - log_rho.max())
    return np.stack([
        np.bincount(cluster_of_trajectory, weights=rho * lengths, minlength=n_clusters),
        np.bincount(cluster_of_trajectory, weights=rho, minlength=n_clusters),
    ])


def paired_ncis_difference(
    trajectories, clusters, base_probs, other_probs, *, base_reference=None,
    other_reference=None, step_values=None, n_replicates: int = 1000,
    confidence: float = 0.95, seed: int = 0,
) -> PairedDifference:
    """``J(other) - J(base)`` of trajectory NCIS, clusters resampled once for every model.

    ``J(M) = sum_i rho_i(M) L_i / sum_i rho_i(M)`` with ``rho_i = prod_t p_t`` over trajectory
    ``i``'s steps (:func:`offline_rl.evaluation.trajectory_ncis.trajectory_ncis`). With
    ``base_reference`` / ``other_reference`` (the untrained networks' probabilities, as MTRec
    reports NCIS) each side is ``J(M) - J(reference)``, recomputed in every replicate.

    Parameters
    ----------
    trajectories
        ``(T,)`` trajectory (e.g. session) of each step.
    clusters
        ``(T,)`` cluster (user) of each step; constant within a trajectory.
    base_probs, other_probs
        ``(T,)`` each model's probability of the logged item at the step, in (0, 1].
    base_reference, other_reference
        Optional ``(T,)`` probabilities subtracted as ``J(reference)`` on that side.
    step_values
        Optional ``(T,)`` values summed into ``L_i`` (default 1: the trajectory's length).
    """
    _check_confidence(confidence)
    trajectory_labels = np.asarray(trajectories)
    n_steps = trajectory_labels.shape[0]
    if trajectory_labels.ndim != 1:
        raise ValueError(f"Expected 1-D `trajectories`, but found shape {trajectory_labels.shape}.")
    _, trajectory = np.unique(trajectory_labels, return_inverse=True)
    trajectory = trajectory.ravel()
    cluster, n_clusters = cluster_index(clusters)
    if cluster.shape[0] != n_steps:
        raise ValueError(f"Expected `clusters` of length {n_steps}, but found {cluster.shape[0]}.")
    n_trajectories = int(trajectory.max()) + 1 if n_steps else 0
    cluster_of_trajectory = np.zeros(n_trajectories, dtype=np.int64)
    cluster_of_trajectory[trajectory] = cluster
    if (cluster_of_trajectory[trajectory] != cluster).any():
        row = int(np.flatnonzero(cluster_of_trajectory[trajectory] != cluster)[0])
        raise ValueError(f"A trajectory must lie in one cluster; row {row}'s trajectory "
                         f"{trajectory_labels[row]!r} spans several clusters.")
    values = (np.ones(n_steps) if step_values is None
              else np.asarray(step_values, dtype=np.float64))
    if values.shape != (n_steps,):
        raise ValueError(f"Expected `step_values.shape == ({n_steps},)`, but found {values.shape}.")
    lengths = np.bincount(trajectory, weights=values, minlength=n_trajectories)

    def sums(probs) -> np.ndarray | None:
        if probs is None:
            return None
        return _ncis_cluster_sums(trajectory_labels, cluster_of_trajectory, n_clusters, probs,
                                  lengths)

    other_side = (sums(other_probs), sums(other_reference))
    base_side = (sums(base_probs), sums(base_reference))
    with np.errstate(invalid="ignore", divide="ignore"):
        ones = np.ones((1, n_clusters))
        other_point = _side_value(other_side, ones)[0]
        base_point = _side_value(base_side, ones)[0]
        replicates = []
        for counts in cluster_counts(n_clusters, n_replicates, seed=seed):
            weights = counts.astype(np.float64)
            replicates.append(_side_value(other_side, weights) - _side_value(base_side, weights))
    return _summary("ncis", base_point, other_point, np.concatenate(replicates), confidence,
                    n_clusters)


def _side_value(side: tuple[np.ndarray, np.ndarray | None], weights: np.ndarray) -> np.ndarray:
    """``J(model) - J(reference)`` (or ``J(model)``) under each row of cluster ``weights``."""
    model, reference = side
    value = (weights @ model[0]) / (weights @ model[1])
    if reference is not None:
        value = value - (weights @ reference[0]) / (weights @ reference[1])
    return value

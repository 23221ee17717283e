"""AUC: equal to scikit-learn within 1e-12 with ties and weights; grouped AUC; bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from offline_rl.evaluation.auc import grouped_auc, roc_auc


@pytest.mark.parametrize("seed", range(25))
def test_equals_sklearn_with_ties_and_weights(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 2000))
    labels = rng.random(n) < rng.uniform(0.05, 0.95)
    labels[0], labels[1] = True, False
    scores = rng.integers(0, int(rng.integers(1, 30)), n).astype(float)  # many ties
    weights = rng.uniform(0, 3, n)
    assert abs(roc_auc(labels, scores) - roc_auc_score(labels, scores)) < 1e-12
    assert (
        abs(
            roc_auc(labels, scores, sample_weight=weights)
            - roc_auc_score(labels, scores, sample_weight=weights)
        )
        < 1e-12
    )
    continuous = rng.normal(size=n)
    assert abs(roc_auc(labels.astype(int), continuous) - roc_auc_score(labels, continuous)) < 1e-12


def test_known_values():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 0], [1.0, 0.0]) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_grouped_auc_is_weighted_mean_of_per_group_auc(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    labels = rng.random(n) < 0.3
    scores = rng.integers(0, 10, n).astype(float)
    groups = rng.integers(0, 40, n)
    groups[:5] = 999  # a group that may be single-class
    labels[:5] = True
    weights = rng.uniform(0.5, 2, n)
    for sample_weight in (None, weights):
        result = grouped_auc(labels, scores, groups, sample_weight=sample_weight)
        values, sizes, skipped = [], [], 0
        for group in np.unique(groups):
            mask = groups == group
            if labels[mask].all() or not labels[mask].any():
                skipped += 1
                continue
            w = None if sample_weight is None else sample_weight[mask]
            values.append(roc_auc_score(labels[mask], scores[mask], sample_weight=w))
            sizes.append(mask.sum() if w is None else w.sum())
        assert abs(result.value - np.average(values, weights=sizes)) < 1e-12
        assert result.skipped == skipped
        np.testing.assert_allclose(result.per_group, values, atol=1e-12)


@pytest.mark.parametrize(
    ("labels", "scores", "kwargs", "message"),
    [
        ([1, 1], [0.1, 0.2], {}, "Only one class present"),
        ([0, 2], [0.1, 0.2], {}, r"`y_true` must be binary \(0/1 or bool\); row 1 is 2"),
        ([0, 1], [0.1, np.nan], {}, r"`y_score` must be finite; row 1 is nan"),
        ([0, 1], [0.1], {}, r"Expected `y_true.shape == y_score.shape`"),
        (
            [0, 1],
            [0.1, 0.2],
            {"sample_weight": [1.0, -1.0]},
            r"`sample_weight` must be finite and >= 0; row 1",
        ),
    ],
)
def test_bad_inputs(labels, scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(labels, scores, **kwargs)

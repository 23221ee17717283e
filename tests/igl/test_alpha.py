"""Elkan & Noto's estimate of the negative labelling propensity among extreme events."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.igl.alpha import MIN_ALPHA, MIN_LABELLED, estimate_alpha
from offline_rl.igl.batch import Batch
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.folds import CrossFitFolds
from offline_rl.igl.policy import policy_net

CONFIG = IGLPConfig(states=3, negative_signals=("dislike",), policy_batch_size=512, max_threads=1)


def _events(n: int, propensity: float, seed: int = 0):
    """Extreme events on 10 actions: actions 6-9 are r = -1, the rest r = +1; an r = -1 event
    is labelled (the oracle fires) with probability ``propensity``, completely at random."""
    rng = np.random.default_rng(seed)
    action = rng.integers(1, 11, n)
    negative = action >= 7
    labelled = negative & (rng.random(n) < propensity)
    batch = Batch(user=np.ones(n, np.int64), feedback=np.ones(n, np.int64),
                  context=rng.normal(size=(n, 2)).astype(np.float32),
                  candidates=action[:, None].astype(np.int64), mask=np.ones((n, 1), bool),
                  num_candidates=np.ones(n, np.int64), action_index=np.zeros(n, np.int64),
                  weight=np.ones(n, np.float32))
    folds = CrossFitFolds(fold=rng.integers(0, 3, n), block_key=np.zeros(n, np.uint64), n_folds=3)
    return batch, labelled, folds


def _make_net():
    return policy_net(CONFIG, num_users=2, num_actions=11, context_dim=2,
                      action_features=np.zeros((11, 0), np.float32))


@pytest.mark.parametrize("propensity", [0.25, 0.6])
def test_recovers_the_labelling_propensity(propensity):
    batch, labelled, folds = _events(4000, propensity)
    estimate = estimate_alpha(CONFIG, batch, np.ones(len(batch), bool), labelled, folds, _make_net)
    assert estimate.labelled_rows == labelled.sum() and estimate.extreme_rows == len(batch)
    assert estimate.alpha == pytest.approx(propensity, abs=0.07)


def test_only_extreme_events_count():
    """Rows that are not extreme events are outside the positive-unlabelled problem: labels
    there must not move the estimate."""
    batch, labelled, folds = _events(4000, 0.25)
    extreme = np.ones(len(batch), bool)
    extreme[::2] = False
    flooded = labelled | ~extreme  # every non-extreme row labelled
    estimate = estimate_alpha(CONFIG, batch, extreme, flooded, folds, _make_net)
    assert estimate.labelled_rows == (labelled & extreme).sum()
    assert estimate.alpha == pytest.approx(0.25, abs=0.08)


def test_too_few_labels_fall_back_to_one_and_tiny_estimates_are_clipped():
    batch, labelled, folds = _events(400, 0.25)
    few = labelled & (np.cumsum(labelled) < MIN_LABELLED)
    estimate = estimate_alpha(CONFIG, batch, np.ones(len(batch), bool), few, folds, _make_net)
    assert estimate.alpha == 1.0 and np.isnan(estimate.raw)
    batch, labelled, folds = _events(8000, 0.015)
    assert labelled.sum() >= MIN_LABELLED
    estimate = estimate_alpha(CONFIG, batch, np.ones(len(batch), bool), labelled, folds, _make_net)
    assert estimate.raw < MIN_ALPHA and estimate.alpha == MIN_ALPHA

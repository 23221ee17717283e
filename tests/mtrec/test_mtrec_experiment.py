"""Helpers of the MTRec experiment."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.mtrec.experiment import shift_to_mean, spearman


def test_spearman_matches_scipy_definition():
    a = np.array([1.0, 2.0, 2.0, 5.0, 3.0])
    b = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    ranks_a = np.array([1, 2.5, 2.5, 5, 4])
    expected = np.corrcoef(ranks_a, np.arange(1, 6))[0, 1]
    assert spearman(a, b) == pytest.approx(expected)
    assert np.isnan(spearman(np.ones(4), b[:4]))


def test_shift_to_mean_keeps_order_and_hits_target():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.05, 0.95, 500)
    shifted = shift_to_mean(probs, 0.7)
    assert shifted.mean() == pytest.approx(0.7, abs=1e-6)
    assert (np.argsort(shifted) == np.argsort(probs)).all()

"""Delta-method intervals: closed forms for IPS and SNIPS."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.statistics import Functional


def test_ips_standard_error_is_sd_over_root_n():
    rng = np.random.default_rng(0)
    values = rng.random(1000)
    stats = np.column_stack([np.ones(1000), values])
    result = delta_intervals(stats, [Functional("mean", ((1, 1),))])
    assert result.standard_error[0] == pytest.approx(values.std(ddof=1) / np.sqrt(1000), rel=1e-12)
    assert result.interval[0, 1] - result.point[0] == pytest.approx(
        1.959963984540054 * result.standard_error[0]
    )


def test_snips_standard_error_is_the_ratio_estimator_variance():
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 3, 2000)
    r = (rng.random(2000) < 0.3).astype(float)
    stats = np.column_stack([np.ones(2000), w * r, w])
    result = delta_intervals(stats, [Functional("snips", ((1, 1), (2, -1)))])
    value = np.sum(w * r) / np.sum(w)
    expected = np.sqrt(np.sum((w * (r - value)) ** 2) / np.sum(w) ** 2 * 2000 / 1999)
    assert result.point[0] == pytest.approx(value)
    assert result.standard_error[0] == pytest.approx(expected, rel=1e-10)


def test_bad_confidence():
    with pytest.raises(ValueError, match=r"`confidence` must be in \(0, 1\). Got 0 instead."):
        delta_intervals(np.ones((3, 2)), [Functional("m", ((1, 1),))], confidence=0)

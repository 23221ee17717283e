"""Closed-form (delta-method) normal intervals: the fast alternative to the bootstrap.

For a functional ``f`` of unit means (:mod:`.statistics`) the first-order Taylor expansion
gives

.. math::

    \\widehat{\\mathrm{Var}}(\\hat f) = \\frac{1}{m(m-1)} \\sum_{u=1}^{m} \\mathrm{IF}_u^2,
    \\qquad \\hat f \\pm z_{1-\\alpha/2} \\sqrt{\\widehat{\\mathrm{Var}}},

with ``IF_u`` the empirical influence value of unit ``u`` (an event, a block or a user).
For IPS this is the usual ``sd(w r) / sqrt(n)``; for SNIPS/NCIS it is the ratio-estimator
variance ``sum (w_i (r_i - V))^2 / (sum w_i)^2``; for lift the variance of a ratio of two
such estimates including their covariance (both are computed on the same logs).

When it is right: the estimator is close to normal, i.e. many units, bounded or capped
weights, and a denominator (``sum w``, the logged policy's value) well away from zero. It
is wrong for small samples, heavy-tailed importance weights (a few huge ``w`` dominate)
and rare metrics, where the percentile or BCa bootstrap should be used.

References
----------
Casella, G. and Berger, R. (2002). *Statistical Inference*, 2nd ed., sec. 5.5.4 (delta
method). Swaminathan, A. and Joachims, T. (2015). The self-normalized estimator for
counterfactual learning. *NeurIPS* (variance of SNIPS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from offline_rl.evaluation.statistics import Functional, functional_values, influence_values


@dataclass(frozen=True)
class DeltaResult:
    """Delta-method estimates: ``point``, ``standard_error`` ``(R?, F)``, ``interval`` ``(R?, F, 2)``."""

    names: tuple[str, ...]
    point: np.ndarray
    standard_error: np.ndarray
    interval: np.ndarray
    confidence: float


def delta_intervals(
    units: np.ndarray, functionals: Sequence[Functional], *, confidence: float = 0.95
) -> DeltaResult:
    """Normal intervals from the delta method.

    Parameters
    ----------
    units
        ``(m, k)`` or ``(R, m, k)`` unit statistics, column 0 the event count.
    functionals
        Estimators.
    confidence
        Two-sided nominal coverage.

    Returns
    -------
    DeltaResult
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Got {confidence!r} instead.")
    units = np.asarray(units, dtype=np.float64)
    functionals = tuple(functionals)
    m = units.shape[-2]
    point = functional_values(units.sum(axis=-2), functionals)
    influence = influence_values(units, functionals)
    with np.errstate(invalid="ignore", divide="ignore"):
        standard_error = np.sqrt(np.sum(influence * influence, axis=-2) / (m * max(m - 1, 1)))
    z = ndtri(1 - (1 - confidence) / 2)
    interval = np.stack([point - z * standard_error, point + z * standard_error], axis=-1)
    return DeltaResult(
        tuple(f.name for f in functionals), point, standard_error, interval, confidence
    )

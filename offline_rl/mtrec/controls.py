"""CTR-level controls for NCIS: the base model with its logits shifted by one constant.

Trajectory NCIS weights a user by ``rho_i = prod_t p_t``, so a model that predicts higher CTRs
everywhere gets a different NCIS at the same ranking (shifting a base model's logits by +0.5
moved its NCIS from 0.354 to 0.817 at equal AUC; issue #14). A shift ``c`` leaves every
ranking, hence the AUC, unchanged; a comparison "aligned vs base" is fair only against the
base model shifted to the aligned model's level. Two levels, two controls:

* :func:`shift_to_mean`: the same mean CTR, ``mean sigmoid(l + c) = target``;
* :func:`shift_to_mean_log`: the same mean ``log p`` (what NCIS's weights sum),
  ``mean log max(sigmoid(l + c), floor) = target``.

Both solve for ``c`` by bisection (each mean is non-decreasing in ``c``).
"""

from __future__ import annotations

import numpy as np

#: Probabilities are clipped to [_EDGE, 1 - _EDGE] before taking logits.
_EDGE = 1e-7


def logits(probs: np.ndarray) -> np.ndarray:
    """``log p - log(1 - p)`` of probabilities clipped to ``[1e-7, 1 - 1e-7]``."""
    clipped = np.clip(np.asarray(probs, dtype=np.float64), _EDGE, 1 - _EDGE)
    return np.log(clipped) - np.log1p(-clipped)


def shift_logits(probs: np.ndarray, shift: float) -> np.ndarray:
    """``sigmoid(logit(p) + shift)``."""
    return 1.0 / (1.0 + np.exp(-(logits(probs) + shift)))


def _bisect(level, target: float, low: float = -40.0, high: float = 40.0) -> float:
    for _ in range(100):
        middle = 0.5 * (low + high)
        if level(middle) < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def shift_to_mean(probs: np.ndarray, target: float) -> np.ndarray:
    """``sigmoid(logit(p) + c)`` with ``c`` chosen so that the mean is ``target`` (0 < target < 1)."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"`target` must be a mean probability in (0, 1); got {target!r}.")
    base = logits(probs)
    shift = _bisect(lambda c: float(np.mean(1.0 / (1.0 + np.exp(-(base + c))))), target)
    return shift_logits(probs, shift)


def shift_to_mean_log(probs: np.ndarray, target: float, *, floor: float = 0.0) -> np.ndarray:
    """``sigmoid(logit(p) + c)`` with ``c`` chosen so that ``mean log max(p', floor) = target``.

    ``floor`` is the probability floor NCIS applies (``target`` is computed with the same
    floor on the other model's probabilities), so the two weights' sums match exactly.
    """
    if not target < 0.0:
        raise ValueError(f"`target` must be a mean log-probability < 0; got {target!r}.")
    base = logits(probs)
    low_log = np.log(floor) if floor > 0 else -np.inf

    def mean_log(c: float) -> float:
        # log sigmoid(x) = -log(1 + exp(-x)), computed without overflow
        return float(np.mean(np.maximum(-np.logaddexp(0.0, -(base + c)), low_log)))

    return shift_logits(probs, _bisect(mean_log, target))

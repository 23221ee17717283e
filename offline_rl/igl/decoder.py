"""The IGL-P reward decoder (Eq. 4), pure numpy.

Given the inverse-kinematics posterior P_hat(a_t | x_t, y_t) of the logged action, the
row's candidate-set size K_t and the definitely-negative oracle DN(x_t, y_t), the decoded
reward is

    r_hat = 0          if K * P_hat(a | x, y) <= 2                (not an extreme event)
    r_hat = -1/alpha   if K * P_hat(a | x, y) >  2 and DN fires   (definitely negative)
    r_hat = +1         otherwise.

The factor K * P_hat compares the posterior with the synthetic uniform prior 1/K that the
importance weights w = 1/(K * P(a|x)) create (Algorithm 1, line 10); Eq. (3) shows that
r = 0 implies P(a|y,x) <= 2 P(a|x). With alpha = 1 and no oracle this is IGL-P(2).

Two readings of alpha. Among extreme events, let the oracle fire on a share c of the
r = -1 events (never on r = +1). Eq. (4) then gives E[r_hat | r = -1, extreme] =
c (-1/alpha) + (1 - c) = -c at alpha = c: a bad item's extreme event is worth -c, not -1.
The unbiased positive-unlabelled value (Elkan & Noto's weighting: a labelled row counts as
its class with weight 1/c and as the other class with weight 1 - 1/c) is 1 - 2/c for a
definitely-negative extreme row, which makes that expectation -1. The two are one family:
1 - 2/a' = -1/a exactly when a' = 2a / (1 + a), so Eq. (4) at alpha is, row by row, the
unbiased decoder at 2 alpha / (1 + alpha), and the unbiased decoder at a propensity c is
Eq. (4) at :func:`eq4_alpha` (c) = c / (2 - c). This module keeps Eq. (4) as the paper
states it; an estimated propensity c is converted with :func:`eq4_alpha` when the unbiased
value is wanted (docs/igl.md, Production).

References
----------
Maghakian et al., ICLR 2023, Eq. (3), Eq. (4) and Algorithm 1, lines 11-18.
Elkan and Noto, "Learning classifiers from only positive and unlabeled data", KDD 2008.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def definitely_negative(feedback: Iterable[str], negative_signals: Iterable[str]) -> np.ndarray:
    """The definitely-negative oracle DN(x, y) as a boolean mask.

    ``True`` where the feedback is one of the user-declared ``negative_signals`` (for
    example ``("dislike",)`` or ``("angry",)``). With no signals it never fires, which is
    2-state IGL.
    """
    values = np.asarray(list(feedback) if not isinstance(feedback, np.ndarray) else feedback,
                        dtype=object)
    signals = set(negative_signals)
    if not signals:
        return np.zeros(values.shape[0], dtype=bool)
    return np.fromiter((v in signals for v in values), dtype=bool, count=values.shape[0])


def extreme_events(k_p_hat: np.ndarray, *, threshold: float = 2.0) -> np.ndarray:
    """``K * P_hat(a|x,y) > threshold`` (strictly greater: exactly 2 is *not* extreme)."""
    return np.asarray(k_p_hat, dtype=np.float64) > threshold


def decode_rewards(
    k_p_hat: np.ndarray,
    negative: np.ndarray | None = None,
    *,
    alpha: float = 1.0,
    threshold: float = 2.0,
) -> np.ndarray:
    """Eq. (4): decoded rewards from ``K * P_hat`` and the oracle mask.

    Parameters
    ----------
    k_p_hat : array of shape (n,)
        ``num_candidates * P_hat(logged action | x, y, A)`` per row.
    negative : bool array of shape (n,), optional
        The oracle DN(x, y) = -1 per row (``None``: never fires, IGL-P(2)).
    alpha : float
        Negative labelling propensity; a definitely-negative extreme event decodes to
        ``-1/alpha``.
    threshold : float
        2 in the paper (Eq. 3).

    Returns
    -------
    float64 array of shape (n,) with values in {0, 1, -1/alpha}.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 (Eq. 4 decodes to -1/alpha). Got {alpha!r}.")
    k_p_hat = np.asarray(k_p_hat, dtype=np.float64)
    if k_p_hat.ndim != 1:
        raise ValueError(f"Expected `k_p_hat.ndim == 1`, but found {k_p_hat.ndim}.")
    if np.isnan(k_p_hat).any():
        raise ValueError("k_p_hat contains NaN; the IK model produced an invalid probability.")
    if negative is None:
        negative = np.zeros(k_p_hat.shape[0], dtype=bool)
    negative = np.asarray(negative, dtype=bool)
    if negative.shape != k_p_hat.shape:
        raise ValueError(
            f"Expected `negative.shape == k_p_hat.shape`, but found {negative.shape} "
            f"and {k_p_hat.shape}."
        )
    extreme = extreme_events(k_p_hat, threshold=threshold)
    reward = np.zeros(k_p_hat.shape[0], dtype=np.float64)
    reward[extreme & ~negative] = 1.0
    reward[extreme & negative] = -1.0 / alpha
    return reward


def eq4_alpha(propensity: float) -> float:
    """The Eq. (4) alpha whose decoded rewards are the unbiased positive-unlabelled ones
    for a definitely-negative labelling propensity ``propensity`` among extreme events.

    Eq. (4) decodes a definitely-negative extreme row to -1/alpha; the unbiased value is
    1 - 2/c. They are equal when alpha = c / (2 - c) (0.25 -> 1/7, 0.5 -> 1/3, 1 -> 1).
    """
    c = float(propensity)
    if not 0 < c <= 1:
        raise ValueError(f"The 'propensity' must be in (0, 1]; got {propensity!r}.")
    return c / (2.0 - c)

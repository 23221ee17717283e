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

References
----------
Maghakian et al., ICLR 2023, Eq. (3), Eq. (4) and Algorithm 1, lines 11-18.
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

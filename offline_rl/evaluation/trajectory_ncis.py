"""NCIS over user trajectories, as MTRec reports it (sec. 5.1), computed in log space.

.. math::

    \\tilde J^{NCIS}(\\mathcal M) = \\frac{\\sum_{i=1}^{n} \\tilde\\rho_i(\\mathcal M) L_i}
    {\\sum_{i=1}^{n} \\tilde\\rho_i(\\mathcal M)}, \\qquad
    \\rho_i(\\mathcal M) = \\prod_{t \\in \\mathcal T_i} p_t(\\mathcal M),

with ``p_t`` the model's probability (CTR estimate) for the item logged at step ``t`` of user
``i``'s trajectory ``T_i`` and ``L_i`` the trajectory's value (its length by default). The
product underflows for trajectories of a few hundred steps, so ``log rho_i = sum_t log p_t``
is accumulated and ``rho_i / max_j rho_j = exp(log rho_i - max_j log rho_j)`` is used: the
ratio is unchanged by the common factor.

Choices where the paper is silent (see docs/evaluation.md):

* ``logging_probs``: if given, ``rho_i`` is the importance ratio
  ``prod_t p_t / p0_t`` (a true NCIS); by default it is the paper's plain product.
* ``cap_quantile``: the cap "relative to the data" — ``rho_i`` is capped at the
  ``cap_quantile`` quantile of the ``rho``'s over users (in log space), so no single user's
  trajectory dominates. ``None`` (default) means no cap, as in the paper.
* :func:`ncis_minus_untrained` is the number the paper reports: the trained model's NCIS
  minus that of the same architecture before training, on the same trajectories.

References
----------
MTRec (mtrec-paper.txt), sec. 5.1; Swaminathan and Joachims (2015); Gilotte et al. (2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_rl.evaluation.bootstrap import bootstrap_functionals
from offline_rl.evaluation.statistics import Functional


@dataclass(frozen=True)
class TrajectoryNCIS:
    """Trajectory NCIS with diagnostics.

    Attributes
    ----------
    value
        ``J`` (or the difference for :func:`ncis_minus_untrained`).
    n_users
        Number of trajectories.
    ess
        Kish effective number of users ``(sum rho)^2 / sum rho^2``.
    max_weight
        Largest normalised weight ``max rho_i / sum rho_j`` (1 means one user decides ``J``).
    lower, upper
        Cluster-bootstrap percentile interval (users resampled), NaN if not requested.
    """

    value: float
    n_users: int
    ess: float
    max_weight: float
    lower: float = float("nan")
    upper: float = float("nan")


def trajectory_log_weights(
    user_ids, step_probs, *, logging_probs=None, cap_quantile: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user ``log rho_i`` (capped if asked) and the inverse index step -> user.

    Returns
    -------
    (log_rho, user_index)
        ``log_rho`` of shape ``(n_users,)`` in the order of ``numpy.unique(user_ids)``.
    """
    probs = np.asarray(step_probs, dtype=np.float64)
    users = np.asarray(user_ids)
    if probs.ndim != 1 or users.shape != probs.shape:
        raise ValueError(
            f"Expected 1-D `user_ids` and `step_probs` of equal length, but found {users.shape} and {probs.shape}."
        )
    bad = ~np.isfinite(probs) | (probs <= 0) | (probs > 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`step_probs` must lie in (0, 1]; row {row} is {probs[row].item()!r}.")
    log_step = np.log(probs)
    if logging_probs is not None:
        logged = np.asarray(logging_probs, dtype=np.float64)
        if logged.shape != probs.shape:
            raise ValueError(
                f"Expected `logging_probs.shape == {probs.shape}`, but found {logged.shape}."
            )
        bad = ~np.isfinite(logged) | (logged <= 0) | (logged > 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"`logging_probs` must lie in (0, 1]; row {row} is {logged[row].item()!r}."
            )
        log_step = log_step - np.log(logged)
    _, index = np.unique(users, return_inverse=True)
    index = index.ravel()
    n_users = int(index.max()) + 1 if index.size else 0
    log_rho = np.bincount(index, weights=log_step, minlength=n_users)
    if cap_quantile is not None:
        if not 0.0 < cap_quantile <= 1.0:
            raise ValueError(f"`cap_quantile` must be in (0, 1]. Got {cap_quantile!r} instead.")
        log_rho = np.minimum(log_rho, np.quantile(log_rho, cap_quantile))
    return log_rho, index


def trajectory_ncis(
    user_ids,
    step_probs,
    *,
    step_values=None,
    logging_probs=None,
    cap_quantile: float | None = None,
    n_replicates: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> TrajectoryNCIS:
    """MTRec's trajectory NCIS, ``J = sum_i rho_i L_i / sum_i rho_i``, in log space.

    Parameters
    ----------
    user_ids
        ``(T,)`` user of each logged step (all of a user's steps form the trajectory).
    step_probs
        ``(T,)`` model's probability ``p_t`` of the logged item at each step, in (0, 1].
    step_values
        Optional ``(T,)`` per-step values summed into ``L_i``; default 1 (``L_i`` = length).
    logging_probs
        Optional ``(T,)`` logging probabilities; divides ``rho`` into an importance ratio.
    cap_quantile
        Optional cap of ``rho`` at this quantile over users.
    n_replicates
        If > 0, a cluster bootstrap over users gives ``lower``/``upper``.
    confidence, seed
        Interval level and seed.

    References
    ----------
    MTRec, sec. 5.1.
    """
    log_rho, index = trajectory_log_weights(
        user_ids, step_probs, logging_probs=logging_probs, cap_quantile=cap_quantile
    )
    units = _units(log_rho, index, step_values)
    return _summarise(units, n_replicates=n_replicates, confidence=confidence, seed=seed)


def ncis_minus_untrained(
    user_ids,
    trained_probs,
    untrained_probs,
    *,
    step_values=None,
    logging_probs=None,
    cap_quantile: float | None = None,
    n_replicates: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> TrajectoryNCIS:
    """``J(trained) - J(untrained)`` on the same trajectories: the number MTRec's tables report.

    The interval resamples users once per replicate for both models (paired), so it
    reflects the variance of the difference. ``ess``/``max_weight`` are the trained model's.
    """
    log_trained, index = trajectory_log_weights(
        user_ids, trained_probs, logging_probs=logging_probs, cap_quantile=cap_quantile
    )
    log_untrained, _ = trajectory_log_weights(
        user_ids, untrained_probs, logging_probs=logging_probs, cap_quantile=cap_quantile
    )
    trained = _units(log_trained, index, step_values)
    untrained = _units(log_untrained, index, step_values)
    units = np.concatenate([trained, untrained[:, 1:]], axis=1)
    functionals = (
        Functional("trained", ((1, 1), (2, -1))),
        Functional("untrained", ((3, 1), (4, -1))),
    )
    value = _ratio(trained) - _ratio(untrained)
    ess, largest = _weights_summary(trained[:, 2])
    lower = upper = float("nan")
    if n_replicates > 0:
        result = bootstrap_functionals(
            units, functionals, n_replicates=n_replicates, confidence=confidence, seed=seed
        )
        difference = result.replicates[:, 0] - result.replicates[:, 1]
        alpha = 1 - confidence
        lower, upper = (float(x) for x in np.nanquantile(difference, [alpha / 2, 1 - alpha / 2]))
    return TrajectoryNCIS(float(value), trained.shape[0], ess, largest, lower, upper)


def _units(log_rho: np.ndarray, index: np.ndarray, step_values) -> np.ndarray:
    n_users = log_rho.shape[0]
    if step_values is None:
        lengths = np.bincount(index, minlength=n_users).astype(np.float64)
    else:
        values = np.asarray(step_values, dtype=np.float64)
        if values.shape != index.shape:
            raise ValueError(
                f"Expected `step_values.shape == {index.shape}`, but found {values.shape}."
            )
        lengths = np.bincount(index, weights=values, minlength=n_users)
    rho = np.exp(log_rho - log_rho.max()) if n_users else log_rho
    return np.column_stack([np.ones(n_users), rho * lengths, rho])


def _ratio(units: np.ndarray) -> float:
    total = units[:, 2].sum()
    return float(units[:, 1].sum() / total) if total > 0 else float("nan")


def _weights_summary(rho: np.ndarray) -> tuple[float, float]:
    total = rho.sum()
    if total <= 0:
        return 0.0, float("nan")
    return float(total**2 / np.dot(rho, rho)), float(rho.max() / total)


def _summarise(
    units: np.ndarray, *, n_replicates: int, confidence: float, seed: int
) -> TrajectoryNCIS:
    value = _ratio(units)
    ess, largest = _weights_summary(units[:, 2])
    lower = upper = float("nan")
    if n_replicates > 0:
        result = bootstrap_functionals(
            units,
            (Functional("ncis", ((1, 1), (2, -1))),),
            n_replicates=n_replicates,
            confidence=confidence,
            seed=seed,
        )
        lower, upper = (float(x) for x in result.percentile[0])
    return TrajectoryNCIS(value, units.shape[0], ess, largest, lower, upper)

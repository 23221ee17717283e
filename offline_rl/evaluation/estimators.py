"""Off-policy value estimators over arrays: IPS, capped IPS, SNIPS, NCIS, DM and DR.

Notation: ``n`` logged decisions ``(x_i, a_i, p_i = pi_0(a_i | x_i), r_i)``; a candidate
policy ``pi`` enters through ``pi_i = pi(a_i | x_i)`` only (a vector), and through
``q_pi_i = sum_a pi(a | x_i) q(x_i, a)`` where a reward model ``q`` is given (DM, DR).
Importance weights are ``w_i = pi_i / p_i`` and capped weights ``wbar_i = min(w_i, c)``.

Every function returns an :class:`Estimate` carrying the effective sample size
``ESS = (sum w)^2 / sum w^2`` and the largest weight, so that a value is never read without
its weight diagnostics. Intervals for these (and for all of them at once) come from
:mod:`.bootstrap` or :mod:`.delta` via :func:`offline_rl.evaluation.evaluate.evaluate_logs`.

References
----------
Horvitz, D. and Thompson, D. (1952) (IPS). Swaminathan, A. and Joachims, T. (2015). The
self-normalized estimator for counterfactual learning. *NeurIPS* (SNIPS, eq. 7). Gilotte,
A. et al. (2018). Offline A/B testing for recommender systems. *WSDM* (NCIS, eq. 6).
Dudik, M., Langford, J. and Li, L. (2011). Doubly robust policy evaluation and learning.
*ICML* (DM eq. 2, DR eq. 3). Kish, L. (1965) (effective sample size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Smallest propensity accepted. A logged action taken with probability below 1e-12 is a
#: logging bug or a rounding artefact, and its weight (over 1e12) would make every estimate
#: a one-event estimate; far below it (1e-300) ``w**2`` overflows and the estimates turn
#: into NaN. Such a row is refused, naming the row, rather than silently dominating.
MIN_PROPENSITY = 1e-12

#: Tolerance on ``sum_a pi(a | x) == 1`` for a full action distribution (DM and DR).
DISTRIBUTION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Estimate:
    """One off-policy value estimate with its weight diagnostics.

    Attributes
    ----------
    estimator
        ``"ips"``, ``"capped_ips"``, ``"snips"``, ``"ncis"``, ``"dm"``, ``"dr"`` or
        ``"on_policy"``.
    value
        The estimate.
    n
        Number of logged decisions used.
    ess
        Kish effective sample size of the weights the estimator uses (``n`` for DM and the
        on-policy mean).
    max_weight
        Largest weight the estimator uses (1 for DM and the on-policy mean).
    """

    estimator: str
    value: float
    n: int
    ess: float
    max_weight: float


def _vector(name: str, values, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"Expected `{name}` to be 1-D, but found shape {array.shape}.")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"Expected `{name}.shape[0] == {n}`, but found {array.shape[0]}.")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`{name}` must be finite; row {row} is {array[row].item()!r}.")
    return array


def importance_weights(target_prob, propensity) -> np.ndarray:
    """``w_i = pi(a_i | x_i) / pi_0(a_i | x_i)``, after checking both are probabilities.

    Parameters
    ----------
    target_prob
        ``(n,)`` candidate policy's probability of the logged action, in [0, 1].
    propensity
        ``(n,)`` logging policy's probability of the logged action, in (0, 1].
    """
    target = _vector("target_prob", target_prob)
    logged = _vector("propensity", propensity, target.shape[0])
    for name, array, low_open in (("target_prob", target, False), ("propensity", logged, True)):
        bad = (array <= 0.0 if low_open else array < 0.0) | (array > 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            interval = "(0, 1]" if low_open else "[0, 1]"
            raise ValueError(
                f"`{name}` must lie in {interval}; row {row} is {array[row].item()!r}."
            )
    check_propensity_floor("propensity", logged)
    return target / logged


def check_propensity_floor(name: str, propensity: np.ndarray) -> None:
    """Refuse propensities below :data:`MIN_PROPENSITY`, naming the first such row."""
    tiny = propensity < MIN_PROPENSITY
    if tiny.any():
        row = int(np.flatnonzero(tiny)[0])
        raise ValueError(
            f"{name} row {row} is {propensity[row].item()!r}, below the smallest accepted "
            f"propensity {MIN_PROPENSITY:g}: its importance weight would exceed "
            f"{1 / MIN_PROPENSITY:g} and decide every estimate alone ({int(tiny.sum())} such rows)."
        )


def weight_diagnostics(weights: np.ndarray) -> tuple[float, float]:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` and ``max w``."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.size == 0:
        return 0.0, float("nan")
    square = float(np.dot(weights, weights))
    ess = float(weights.sum()) ** 2 / square if square > 0 else 0.0
    return ess, float(weights.max())


def _check_cap(cap: float) -> float:
    if not (isinstance(cap, int | float) and cap > 0 and np.isfinite(cap)):
        raise ValueError(f"The weight cap `cap` must be a finite number > 0. Got {cap!r} instead.")
    return float(cap)


def on_policy_mean(rewards) -> Estimate:
    """The logging policy's own value: ``V(pi_0) = (1/n) sum_i r_i``."""
    rewards = _vector("rewards", rewards)
    n = rewards.shape[0]
    return Estimate("on_policy", float(rewards.mean()) if n else float("nan"), n, float(n), 1.0)


def ips(rewards, target_prob, propensity) -> Estimate:
    """Inverse propensity scoring: ``V = (1/n) sum_i w_i r_i``.

    Unbiased when ``p_i > 0`` wherever ``pi_i > 0``.

    References
    ----------
    Horvitz and Thompson (1952); Dudik et al. (2011), eq. 1.
    """
    weights = importance_weights(target_prob, propensity)
    rewards = _vector("rewards", rewards, weights.shape[0])
    ess, largest = weight_diagnostics(weights)
    return Estimate("ips", float(np.mean(weights * rewards)), weights.shape[0], ess, largest)


def capped_ips(rewards, target_prob, propensity, *, cap: float) -> Estimate:
    """Capped IPS: ``V = (1/n) sum_i min(w_i, c) r_i`` (biased down, lower variance).

    References
    ----------
    Ionides, E. (2008). Truncated importance sampling. *JCGS* 17(2).
    """
    cap = _check_cap(cap)
    weights = np.minimum(importance_weights(target_prob, propensity), cap)
    rewards = _vector("rewards", rewards, weights.shape[0])
    ess, largest = weight_diagnostics(weights)
    return Estimate("capped_ips", float(np.mean(weights * rewards)), weights.shape[0], ess, largest)


def snips(rewards, target_prob, propensity) -> Estimate:
    """Self-normalised IPS: ``V = sum_i w_i r_i / sum_i w_i``.

    Invariant to scaling all weights by a constant.

    References
    ----------
    Swaminathan and Joachims (2015), eq. 7.
    """
    weights = importance_weights(target_prob, propensity)
    rewards = _vector("rewards", rewards, weights.shape[0])
    ess, largest = weight_diagnostics(weights)
    total = weights.sum()
    value = float(np.dot(weights, rewards) / total) if total > 0 else float("nan")
    return Estimate("snips", value, weights.shape[0], ess, largest)


def ncis(rewards, target_prob, propensity, *, cap: float) -> Estimate:
    """Normalised capped importance sampling: ``V = sum_i wbar_i r_i / sum_i wbar_i``.

    With ``wbar_i = min(w_i, c)``.

    References
    ----------
    Gilotte et al. (2018), eq. 6; Swaminathan and Joachims (2015).
    """
    cap = _check_cap(cap)
    weights = np.minimum(importance_weights(target_prob, propensity), cap)
    rewards = _vector("rewards", rewards, weights.shape[0])
    ess, largest = weight_diagnostics(weights)
    total = weights.sum()
    value = float(np.dot(weights, rewards) / total) if total > 0 else float("nan")
    return Estimate("ncis", value, weights.shape[0], ess, largest)


def expected_under_policy(action_probs, reward_predictions) -> np.ndarray:
    """``q_pi_i = sum_a pi(a | x_i) q(x_i, a)`` from the full distribution (DM and DR only).

    Parameters
    ----------
    action_probs
        ``(n, K)`` candidate policy's distribution over the ``K`` candidates of each row
        (pad ragged candidate sets with probability 0).
    reward_predictions
        ``(n, K)`` reward model's predictions ``q(x_i, a)`` for the same candidates.
    """
    probs = np.asarray(action_probs, dtype=np.float64)
    predictions = np.asarray(reward_predictions, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != predictions.shape:
        raise ValueError(
            "Expected `action_probs` and `reward_predictions` to be 2-D of the same shape, "
            f"but found {probs.shape} and {predictions.shape}."
        )
    for name, array in (("action_probs", probs), ("reward_predictions", predictions)):
        bad = ~np.isfinite(array)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"`{name}` must be finite; row {row}, column {column} is {array[row, column].item()!r}."
            )
    outside = (probs < 0.0) | (probs > 1.0)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`action_probs` must lie in [0, 1]; row {row}, column {column} is {probs[row, column].item()!r}."
        )
    totals = probs.sum(axis=1)
    off = np.abs(totals - 1.0) > DISTRIBUTION_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"`action_probs` rows must sum to 1 (a distribution over the candidates); row {row} "
            f"sums to {totals[row].item()!r}."
        )
    return np.einsum("ij,ij->i", probs, predictions)


def direct_method(expected_reward_target) -> Estimate:
    """Direct method: ``V = (1/n) sum_i q_pi_i``.

    Biased by the reward model's error, no importance weights.

    References
    ----------
    Dudik et al. (2011), eq. 2.
    """
    values = _vector("expected_reward_target", expected_reward_target)
    n = values.shape[0]
    return Estimate("dm", float(values.mean()) if n else float("nan"), n, float(n), 1.0)


def doubly_robust(
    rewards, target_prob, propensity, *, reward_logged, expected_reward_target
) -> Estimate:
    """Doubly robust: ``V = (1/n) sum_i [q_pi_i + w_i (r_i - q(x_i, a_i))]``.

    Unbiased if either the propensities or the reward model are correct.

    Parameters
    ----------
    rewards, target_prob, propensity
        As for :func:`ips`.
    reward_logged
        ``(n,)`` reward model's prediction for the logged action, ``q(x_i, a_i)``.
    expected_reward_target
        ``(n,)`` ``q_pi_i`` (see :func:`expected_under_policy`).

    References
    ----------
    Dudik et al. (2011), eq. 3.
    """
    weights = importance_weights(target_prob, propensity)
    n = weights.shape[0]
    rewards = _vector("rewards", rewards, n)
    logged = _vector("reward_logged", reward_logged, n)
    target = _vector("expected_reward_target", expected_reward_target, n)
    ess, largest = weight_diagnostics(weights)
    return Estimate("dr", float(np.mean(target + weights * (rewards - logged))), n, ess, largest)

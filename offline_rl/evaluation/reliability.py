"""When an interval can be trusted: effective counts and the rule that flags the rest.

Every estimate is a smooth function of column means of unit statistics (:mod:`.statistics`).
How many units *effectively* carry a column is its Kish effective count,

.. math::

    n_{\\mathrm{eff}}(k) = \\frac{\\left(\\sum_u |S_{uk}|\\right)^2}{\\sum_u S_{uk}^2},

computed over the resampling units (events or users, before any random blocking). For the
importance-weight column ``w`` this is Kish's effective sample size; for ``w r`` with a 0/1
reward it is the *effective number of positives* (the ESS of the weights of the events with
a positive, or of the users' weighted positive counts); for ``r`` it is the number of
positives. A functional is only as well determined as its worst column, so its effective
count is the smallest over the columns it uses: a SNIPS lift over the logged policy uses the
candidate's ``w r`` and ``w`` and the logs' ``r``.

The effective count of ``w r`` misses one failure: heavy weights on events that happen to
hold *no* positive (a policy that favours actions the logger rarely showed, with rare
rewards). The estimate then simply does not see that region, and its interval is narrow
and wrong. The second diagnostic, the *expected effective positives*
``ESS(w) * V_sn = sum w * sum w r / sum w^2`` over events
(:meth:`.design.Design.expected_positives`), asks how many positives the policy's
effective sample would hold if they were spread in proportion to the weights; it drops
when large weights sit on events without a positive.

The rule (:func:`assess`): an interval is *reliable* when the smaller of the two,
``effective_positives``, is at least :data:`MIN_EFFECTIVE_POSITIVES` for every estimate
the row uses (a lift uses the candidate's and its denominator's), the estimate is defined,
and no bootstrap replicate was dropped. The threshold comes from the coverage study in
``tests/evaluation/coverage_study.py`` (numbers in docs/evaluation.md): in the settings
where nominal 95% intervals covered 0.16-0.69 (weights up to 100 with about 15 positives
in 2,000 events) every data set fell below it; in the settings where they held (clustered
users resampled by user, weights up to 100 with common rewards, about 15 positives with
bounded weights, n = 100) at least 91% of data sets passed it, and those that passed
covered 0.93-0.99.

References
----------
Kish, L. (1965). *Survey Sampling* (effective sample size). Owen, A. (2013). *Monte Carlo
theory, methods and examples*, ch. 9 (importance sampling diagnostics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offline_rl.evaluation.statistics import Functional

#: Smallest effective number of positives at which an interval is reported as reliable.
MIN_EFFECTIVE_POSITIVES = 5.0


def effective_counts(units: np.ndarray) -> np.ndarray:
    """Kish effective count ``(sum |S|)^2 / sum S^2`` of every column of ``(..., m, k)`` units.

    A column that is zero in every unit has effective count 0.
    """
    units = np.asarray(units, dtype=np.float64)
    absolute = np.abs(units).sum(axis=-2)
    square = np.einsum("...mk,...mk->...k", units, units)
    with np.errstate(divide="ignore", invalid="ignore"):
        counts = absolute * absolute / square
    return np.where(square > 0, counts, 0.0)


def functional_effective_counts(
    units: np.ndarray, functionals: Sequence[Functional]
) -> np.ndarray:
    """``(..., F)``: for each functional the smallest effective count over its columns."""
    counts = effective_counts(units)
    out = np.empty((*counts.shape[:-1], len(functionals)))
    for index, functional in enumerate(functionals):
        columns = [column for column, _ in functional.terms]
        out[..., index] = counts[..., columns].min(axis=-1)
    return out


def zero_positive_upper(n_effective: float, confidence: float) -> float:
    """Upper end of the exact interval for a rate with 0 positives in ``n_effective`` trials.

    ``1 - (alpha / 2) ** (1 / n)``: the Clopper-Pearson bound, about ``3.69 / n`` at 95%
    (the "rule of three" is its one-sided 95% version, ``3 / n``). With no positive the
    bootstrap and the delta method both return the point interval ``[0, 0]``, which claims
    a certainty the data do not have; this bound is what 0 positives in ``n`` trials
    supports. Weighted estimates use the weights' effective sample size as ``n``.
    """
    if not n_effective > 0:
        return float("nan")
    return float(1.0 - ((1.0 - confidence) / 2.0) ** (1.0 / n_effective))


def assess(
    *,
    undefined: str | None,
    effective_in_units: float,
    expected_positives: float,
    dropped: int,
    n_replicates: int,
    unit: str,
    no_positive: str | None,
) -> tuple[bool, str | None, float]:
    """``(reliable, reason, effective_positives)`` of one estimate (see the module docstring).

    Parameters
    ----------
    undefined
        Set when the point estimate is not a finite number: why (for the message).
    effective_in_units
        Smallest effective count over the functional's columns, over resampling units.
    expected_positives
        Smallest expected effective positives of the estimates the row uses (NaN where the
        rule does not apply, as for DM).
    dropped, n_replicates
        Bootstrap replicates left out (undefined), out of how many.
    unit
        ``"events"`` or ``"users"``, for the message.
    no_positive
        Set when the numerator holds no positive: what has none (for the message).
    """
    candidates = [effective_in_units]
    if np.isfinite(expected_positives):
        candidates.append(expected_positives)
    effective = float(min(candidates))
    if undefined is not None:
        return False, f"undefined: {undefined}", effective
    if no_positive is not None:
        return (
            False,
            f"no positive among {no_positive}: interval is the exact bound for 0 positives, "
            "not a bootstrap interval",
            effective,
        )
    if effective < MIN_EFFECTIVE_POSITIVES:
        if np.isfinite(expected_positives) and expected_positives <= effective_in_units:
            why = "large weights sit on events without a positive (expected effective positives)"
        else:
            why = f"the positives sit in few {unit}"
        return (
            False,
            f"{effective:.3g} effective positives (< {MIN_EFFECTIVE_POSITIVES:g}): {why}; "
            "nominal coverage is not reached in such settings",
            effective,
        )
    if dropped:
        return (
            False,
            f"{dropped} of {n_replicates} bootstrap replicates were undefined (zero denominator) "
            "and dropped",
            effective,
        )
    return True, None, effective

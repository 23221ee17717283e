"""Sufficient statistics and the smooth functionals of their means that every estimator is.

Every estimator this package reports (IPS, capped IPS, SNIPS, NCIS, DM, DR, the on-policy
mean of the logs, and the relative lift of one over another) is a product of powers of
*column means* of one matrix of per-row sufficient statistics:

.. math::

    \\hat\\theta = \\prod_k \\bar s_k^{\\,e_k}, \\qquad
    \\bar s_k = \\frac{\\sum_u S_{uk}}{\\sum_u N_u},

where ``u`` runs over *units* (events, random blocks of events, or users), ``S_{uk}`` is the
unit's sum of statistic ``k`` and ``N_u`` its number of events (column 0 of the matrix).
IPS is one mean (``e = (+1)`` on ``w r``), SNIPS a ratio (``+1`` on ``w r``, ``-1`` on
``w``), and lift a ratio of two such values. Writing them this way lets one resample of the
units serve all estimators, policies and metrics at once (:mod:`.bootstrap`), gives the
delta method its gradient in closed form (:mod:`.delta`), and gives BCa its acceleration
from the empirical influence function.

References
----------
Efron, B. and Tibshirani, R. (1993). *An Introduction to the Bootstrap*, ch. 14 and 21
(influence functions, BCa acceleration). Kleiner et al. (2014) and Hanley & MacGibbon
(2006) for the Poisson bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Column 0 of every statistics matrix holds the number of events in the unit.
COUNT_COLUMN = 0


@dataclass(frozen=True)
class Functional:
    """A product of powers of column means: ``prod_k mean_k ** e_k``.

    Parameters
    ----------
    name
        Label used in results.
    terms
        ``(column, exponent)`` pairs; columns index the statistics matrix (never column 0,
        which is the event count that every mean is normalised by).
    offset
        Subtracted from the product when reported (``1.0`` for relative lift
        ``V_candidate / V_logged - 1``). Intervals shift with it.
    """

    name: str
    terms: tuple[tuple[int, int], ...]
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError(
                f"Functional {self.name!r} needs at least one (column, exponent) term."
            )
        for column, exponent in self.terms:
            if column == COUNT_COLUMN:
                raise ValueError(
                    f"Functional {self.name!r} uses column {COUNT_COLUMN}, the event count; "
                    "every mean is already divided by it."
                )
            if exponent == 0:
                raise ValueError(
                    f"Functional {self.name!r} has a zero exponent on column {column}."
                )

    def ratio_over(self, other: Functional, name: str, *, offset: float = 1.0) -> Functional:
        """``self / other - offset``: the relative lift of ``self`` over ``other``."""
        merged: dict[int, int] = {}
        for column, exponent in self.terms:
            merged[column] = merged.get(column, 0) + exponent
        for column, exponent in other.terms:
            merged[column] = merged.get(column, 0) - exponent
        terms = tuple((c, e) for c, e in merged.items() if e != 0)
        return Functional(
            name, terms if terms else ((self.terms[0][0], 1), (self.terms[0][0], -1)), offset
        )


def functional_values(sums: np.ndarray, functionals: Sequence[Functional]) -> np.ndarray:
    """Evaluate functionals on column sums.

    Parameters
    ----------
    sums
        Array ``(..., k)`` of (possibly resampled) column sums; column 0 is the event count.
    functionals
        What to evaluate.

    Returns
    -------
    numpy.ndarray
        ``(..., len(functionals))``, offsets already subtracted. Undefined values
        (a zero denominator) are NaN.
    """
    sums = np.asarray(sums, dtype=np.float64)
    out = np.empty((*sums.shape[:-1], len(functionals)), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / sums[..., COUNT_COLUMN : COUNT_COLUMN + 1]
        for index, functional in enumerate(functionals):
            value = np.ones(sums.shape[:-1], dtype=np.float64)
            for column, exponent in functional.terms:
                value = value * (
                    means[..., column] if exponent == 1 else means[..., column] ** exponent
                )
            value = np.where(np.isfinite(value), value, np.nan)
            out[..., index] = value - functional.offset
    return out


def influence_values(units: np.ndarray, functionals: Sequence[Functional]) -> np.ndarray:
    """Empirical influence function of each functional at each unit.

    With unit means ``u_k = sum_u S_uk / m``, ratios ``g_k = u_k / u_0`` and value
    ``f = prod_k g_k ** e_k``,

    .. math::

        \\mathrm{IF}_u = \\sum_k \\frac{\\partial f}{\\partial u_k} (S_{uk} - u_k),
        \\qquad \\frac{\\partial f}{\\partial u_k} = \\frac{e_k\\, g_k^{e_k - 1}
        \\prod_{j \\ne k} g_j^{e_j}}{u_0},
        \\quad \\frac{\\partial f}{\\partial u_0} = -\\sum_k \\frac{\\partial f}{\\partial u_k}
        \\frac{u_k}{u_0}.

    The derivative is written without dividing by ``g_k``, so a numerator column that is
    zero in every unit (a metric without positives) has influence 0 (standard error 0), not
    NaN. A zero *denominator* leaves the functional undefined and its influence NaN.

    Parameters
    ----------
    units
        ``(m, k)`` or ``(R, m, k)`` unit statistics (``R`` independent data sets).
    functionals
        What to differentiate.

    Returns
    -------
    numpy.ndarray
        ``(m, F)`` or ``(R, m, F)``; the delta-method variance of functional ``f`` is
        ``sum_u IF_u**2 / m**2``.
    """
    units = np.asarray(units, dtype=np.float64)
    unit_means = units.mean(axis=-2)  # (..., k)
    gradient = np.zeros((*units.shape[:-2], units.shape[-1], len(functionals)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = unit_means / unit_means[..., COUNT_COLUMN : COUNT_COLUMN + 1]
        for index, functional in enumerate(functionals):
            for position, (column, exponent) in enumerate(functional.terms):
                partial = exponent * ratios[..., column] ** (exponent - 1)
                for other_position, (other, power) in enumerate(functional.terms):
                    if other_position != position:
                        partial = partial * ratios[..., other] ** power
                partial = partial / unit_means[..., COUNT_COLUMN]
                gradient[..., column, index] += partial
                gradient[..., COUNT_COLUMN, index] -= partial * ratios[..., column]
    centred = units - unit_means[..., None, :]
    return centred @ gradient  # (..., m, F)


def reduce_to_units(
    stats: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    max_units: int | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Sum per-event statistics into resampling units.

    Parameters
    ----------
    stats
        ``(n, k)`` per-event statistics, column 0 all ones.
    clusters
        Optional ``(n,)`` cluster label per event (for example ``user_id``): events of one
        cluster are summed into one unit, so resampling draws whole clusters.
    max_units
        If there are more units than this, units are assigned uniformly at random (seeded)
        to ``max_units`` blocks of (nearly) equal size and summed. Resampling blocks of
        exchangeable units reproduces every cumulant of the resampled sums in expectation
        (cumulants of sums add), so the bootstrap distribution is the same up to
        Monte-Carlo noise of relative order ``sqrt(2 / max_units)`` in the variance.
        ``None`` keeps every unit (exact row-level bootstrap).
    seed
        Seed of the random block assignment.

    Returns
    -------
    numpy.ndarray
        ``(m, k)`` unit statistics.
    """
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2:
        raise ValueError(
            f"Expected `stats` to be 2-D (events x statistics), but found shape {stats.shape}."
        )
    n = stats.shape[0]
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n,):
            raise ValueError(
                f"Expected `clusters.shape == ({n},)` (one label per event), but found {clusters.shape}."
            )
        _, labels = np.unique(clusters, return_inverse=True)
        stats = sum_by_label(stats, labels.ravel(), int(labels.max()) + 1 if n else 0)
        n = stats.shape[0]
    if max_units is not None and n > max_units:
        rng = np.random.default_rng(seed)
        # a random permutation cut into max_units contiguous pieces: equal block sizes +-1
        labels = np.empty(n, dtype=np.int64)
        labels[rng.permutation(n)] = np.arange(n, dtype=np.int64) * max_units // n
        stats = sum_by_label(stats, labels, max_units)
    return stats


def sum_by_label(stats: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    """Column sums of ``stats`` grouped by integer ``labels`` in ``[0, size)``."""
    out = np.empty((size, stats.shape[1]), dtype=np.float64)
    for column in range(stats.shape[1]):
        out[:, column] = np.bincount(labels, weights=stats[:, column], minlength=size)
    return out

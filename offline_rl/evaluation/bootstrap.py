"""One shared bootstrap resample for every estimator, policy and metric.

Each replicate ``b`` draws one weight per unit (an event, a random block of events, or a
user), ``c_bu`` — Poisson(1) or multinomial counts — and forms the resampled column sums
``S*_b = sum_u c_bu S_u`` of the statistics matrix (:mod:`.statistics`). Every functional,
ratio estimators (SNIPS, NCIS, lift) included, is then *recomputed* from ``S*_b``; the
reported point is the full-sample value, never the replicate mean.

Poisson weights are counter-based (:func:`poisson_weights`): ``c_bu`` is a function of the
seed, ``b`` and the unit's 64-bit key alone (a SplitMix64 stream per unit, its ``b``-th
output inverted through the Poisson(1) CDF), never of the unit's position. So the replicates
do not depend on the order of the units or on how rows were partitioned before being summed
into them (:mod:`.partitioned`): a run on Spark and a run on one machine give the same
intervals. Multinomial counts need every unit at once and use a seeded generator.

Intervals: percentile, and BCa with the bias correction ``z0`` from the replicates and the
acceleration from the empirical influence function (no jackknife loop, so it is cheap).

References
----------
Efron, B. and Tibshirani, R. (1993). *An Introduction to the Bootstrap*, eq. 13.5
(percentile), eq. 14.9-14.15 (BCa). Hanley, J. and MacGibbon, B. (2006). Creating
non-parametric bootstrap samples using Poisson frequencies. *Computer Methods and Programs
in Biomedicine* 83(1). Field, C. and Welsh, A. (2007). Bootstrapping clustered data.
*JRSS B* 69(3) (cluster bootstrap).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from offline_rl.evaluation.hashing import GOLDEN as _GOLDEN
from offline_rl.evaluation.hashing import mix64, mix64_scalar
from offline_rl.evaluation.statistics import Functional, functional_values, influence_values

#: Largest number of float64 weights held at once (64 MiB).
_WEIGHT_BUDGET = 1 << 23


@dataclass(frozen=True)
class BootstrapResult:
    """Full-sample values, replicates and intervals of a set of functionals.

    Shapes use ``F`` functionals, ``B`` replicates and an optional leading batch ``R`` of
    independent data sets.

    Attributes
    ----------
    names
        Functional names, length ``F``.
    point
        ``(R?, F)`` full-sample values.
    replicates
        ``(R?, B, F)`` recomputed values per replicate.
    standard_error
        ``(R?, F)`` standard deviation of the replicates.
    percentile
        ``(R?, F, 2)`` percentile interval.
    bca
        ``(R?, F, 2)`` bias-corrected and accelerated interval.
    dropped
        ``(R?, F)`` number of replicates in which the functional was undefined (a zero
        denominator, e.g. no positive of the baseline's metric was drawn). They are left out
        of the standard error and the intervals, which are then conditional on a defined
        replicate; callers report the count (:func:`evaluate_logs` flags such rows).
    confidence
        Nominal two-sided coverage of the intervals.
    """

    names: tuple[str, ...]
    point: np.ndarray
    replicates: np.ndarray
    standard_error: np.ndarray
    percentile: np.ndarray
    bca: np.ndarray
    dropped: np.ndarray
    confidence: float


def bootstrap_functionals(
    units: np.ndarray,
    functionals: Sequence[Functional],
    *,
    n_replicates: int = 1000,
    method: Literal["poisson", "multinomial"] = "poisson",
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
    unit_keys: np.ndarray | None = None,
) -> BootstrapResult:
    """Bootstrap every functional from one shared resample of the units.

    Parameters
    ----------
    units
        ``(m, k)`` unit statistics (see :func:`.statistics.reduce_to_units`), column 0 the
        event count; or ``(R, m, k)`` for ``R`` independent data sets resampled
        independently (vectorised simulations).
    functionals
        Estimators to recompute in every replicate.
    n_replicates
        ``B``.
    method
        ``"poisson"``: independent Poisson(1) weight per unit (streams in chunks, the
        default); ``"multinomial"``: counts of ``m`` draws with replacement (the classical
        bootstrap).
    confidence
        Two-sided nominal coverage, in (0, 1).
    seed
        Seed or generator; the same seed gives the same intervals.
    unit_keys
        ``(m,)`` uint64 keys of the units (:func:`.partitioned.unit_keys`, or block indices),
        which seed each unit's Poisson weights; default: the unit's row, ``0 .. m - 1``. With
        the same keys the units may come in any order. Ignored by ``"multinomial"``.

    Returns
    -------
    BootstrapResult

    Notes
    -----
    Replicate sums are ``S* = C @ S`` with ``C`` the ``(B, m)`` weight matrix, computed in
    chunks so that at most 64 MiB of weights exist at once. Independent data sets (``R``)
    draw from independent streams (stream ``r`` of the seed).
    """
    units = np.asarray(units, dtype=np.float64)
    if units.ndim not in (2, 3):
        raise ValueError(f"Expected `units` to be 2-D or 3-D, but found shape {units.shape}.")
    if n_replicates < 2:
        raise ValueError(f"`n_replicates` must be an int >= 2. Got {n_replicates!r} instead.")
    if method not in ("poisson", "multinomial"):
        raise ValueError(
            f"The 'method' parameter must be a str among {{'poisson', 'multinomial'}}. Got {method!r} instead."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Got {confidence!r} instead.")
    functionals = tuple(functionals)
    batched = units.ndim == 3
    batch = units if batched else units[None]
    if unit_keys is not None:
        unit_keys = np.asarray(unit_keys, dtype=np.uint64)
        if unit_keys.shape != (batch.shape[1],):
            raise ValueError(f"Expected `unit_keys.shape == ({batch.shape[1]},)`, but found {unit_keys.shape}.")
    sums = replicate_sums(batch, n_replicates, method=method, seed=seed, unit_keys=unit_keys)  # (R, B, k)
    point = functional_values(batch.sum(axis=1), functionals)  # (R, F)
    replicates = functional_values(sums, functionals)  # (R, B, F)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # an undefined estimate (no positive of a metric in a segment) is NaN, not an error
        warnings.simplefilter("ignore", RuntimeWarning)
        standard_error = np.nanstd(replicates, axis=1, ddof=1)
        percentile = np.moveaxis(
            np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=1), 0, -1
        )
        acceleration = _acceleration(batch, functionals)
        bca = _bca(point, replicates, acceleration, alpha)
    dropped = np.sum(~np.isfinite(replicates), axis=1)
    if not batched:
        point, replicates, standard_error, percentile, bca, dropped = (
            x[0] for x in (point, replicates, standard_error, percentile, bca, dropped)
        )
    return BootstrapResult(
        names=tuple(f.name for f in functionals),
        point=point,
        replicates=replicates,
        standard_error=standard_error,
        percentile=percentile,
        bca=bca,
        dropped=dropped,
        confidence=confidence,
    )


def replicate_sums(
    units: np.ndarray,
    n_replicates: int,
    *,
    method: Literal["poisson", "multinomial"] = "poisson",
    seed: int | np.random.Generator = 0,
    unit_keys: np.ndarray | None = None,
) -> np.ndarray:
    """Resampled column sums ``(R, B, k)`` of ``(R, m, k)`` units, one shared draw per replicate."""
    n_sets, m, k = units.shape
    out = np.zeros((n_sets, n_replicates, k), dtype=np.float64)
    if m == 0:
        return out
    if method == "poisson":
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(0, 1 << 63))
        keys = np.arange(m, dtype=np.uint64) if unit_keys is None else unit_keys
        for r in range(n_sets):
            streams = unit_streams(keys, seed=seed, stream=r)
            step = max(1, _WEIGHT_BUDGET // n_replicates)
            for start in range(0, m, step):
                stop = min(m, start + step)
                out[r] += poisson_weights_of(streams[start:stop], n_replicates) @ units[r, start:stop]
        return out
    rng = np.random.default_rng(seed)
    step = max(1, _WEIGHT_BUDGET // m)
    for r in range(n_sets):
        for start in range(0, n_replicates, step):
            stop = min(n_replicates, start + step)
            rows = stop - start
            draws = rng.integers(0, m, size=(rows, m), dtype=np.int64)
            draws += (np.arange(rows, dtype=np.int64) * m)[:, None]
            counts = np.bincount(draws.ravel(), minlength=rows * m).reshape(rows, m)
            out[r, start:stop] = counts.astype(np.float64) @ units[r]
    return out


def _poisson_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # P(X <= j) for X ~ Poisson(1), scaled to 32-bit integers; X = #{j : threshold_j <= u}.
    cdf = np.cumsum([math.exp(-1.0) / math.factorial(j) for j in range(32)])
    thresholds = np.minimum(np.floor(cdf * 2.0**32), 2.0**32).astype(np.uint64)
    starts = np.arange(1 << 16, dtype=np.uint64) << np.uint64(16)
    low = np.searchsorted(thresholds, starts, side="right")
    high = np.searchsorted(thresholds, starts + np.uint64(0xFFFF), side="right")
    return thresholds, low.astype(np.float64), low != high


_THRESHOLDS, _TABLE, _AMBIGUOUS = _poisson_tables()
#: The table with -1 where the top 16 bits do not settle the draw.
_TABLE_OR_FLAG = np.where(_AMBIGUOUS, -1.0, _TABLE)
#: Keeps the weight streams apart from the block hash of the same seed.
_WEIGHT_SALT = 0x5EED5EED5EED5EED
#: Replicates drawn from one 64-bit output (16 bits each).
_LANES = 4
#: Salts of the second hash that completes an ambiguous draw, one per lane.
_LANE_SALTS = (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89)


def unit_streams(keys: np.ndarray, *, seed: int, stream: int = 0) -> np.ndarray:
    """Each unit's SplitMix64 state for ``seed`` (and ``stream``, one per independent data
    set): a hash of its key, so it does not depend on where the unit sits."""
    salt = mix64_scalar(mix64_scalar(seed ^ _WEIGHT_SALT) + stream * _GOLDEN)
    return mix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(salt))


def poisson_weights_of(streams: np.ndarray, n_replicates: int) -> np.ndarray:
    """``(n_replicates, m)`` Poisson(1) weights of replicates ``0 .. n_replicates - 1`` for
    units with these :func:`unit_streams`.

    Replicate ``b`` of a unit reads the 16 bits ``48 - 16 (b % 4)`` and up of
    ``mix64(state + (b // 4 + 1) * golden)``, the ``(b // 4)``-th output of SplitMix64 from
    the unit's state (four replicates per output). A 65,536-entry table of the Poisson(1) CDF
    indexed by those 16 bits settles all but ~2e-4 of the draws; for those, 16 more bits from
    a second hash of the same output complete a 32-bit uniform that is compared with the
    thresholds. Each ``P(X <= j)`` is reproduced to within ``2**-32``.
    """
    m = streams.shape[0]
    outputs = (n_replicates + _LANES - 1) // _LANES
    counters = (np.arange(1, outputs + 1, dtype=np.uint64) * np.uint64(_GOLDEN))[:, None]
    bits = mix64(streams[None, :] + counters)  # (outputs, m)
    # Little-endian 16-bit words: word 3 - lane holds bits 48 - 16 lane and up.
    words = bits.view(np.uint16).reshape(outputs, m, _LANES)[:, :, ::-1].transpose(0, 2, 1)
    weights = np.take(_TABLE_OR_FLAG, words)  # (outputs, lane, m): replicate 4 output + lane
    ambiguous = np.flatnonzero(weights < 0)  # the bucket straddles a threshold
    if ambiguous.size:
        output, lane, unit = np.unravel_index(ambiguous, weights.shape)
        salts = np.asarray(_LANE_SALTS, dtype=np.uint64)[lane]
        extra = mix64(bits[output, unit] ^ salts) >> np.uint64(48)
        uniform = (words[output, lane, unit].astype(np.uint64) << np.uint64(16)) | extra
        weights.reshape(-1)[ambiguous] = np.searchsorted(_THRESHOLDS, uniform, side="right")
    return weights.reshape(outputs * _LANES, m)[:n_replicates]


def poisson_weights(keys: np.ndarray, n_replicates: int, *, seed: int, stream: int = 0) -> np.ndarray:
    """``(n_replicates, m)`` Poisson(1) weights of the units with these keys: the weights
    :func:`bootstrap_functionals` draws, a function of ``(seed, stream, replicate, key)``."""
    return poisson_weights_of(unit_streams(keys, seed=seed, stream=stream), n_replicates)


def _acceleration(units: np.ndarray, functionals: Sequence[Functional]) -> np.ndarray:
    influence = influence_values(units, functionals)  # (R, m, F)
    squared = influence * influence
    second = np.sum(squared, axis=-2)
    third = np.sum(squared * influence, axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        acceleration = third / (6.0 * second**1.5)
    return np.where(np.isfinite(acceleration), acceleration, 0.0)


def _bca(
    point: np.ndarray, replicates: np.ndarray, acceleration: np.ndarray, alpha: float
) -> np.ndarray:
    # point (R, F), replicates (R, B, F), acceleration (R, F) -> (R, F, 2)
    valid = np.sum(np.isfinite(replicates), axis=1)
    below = np.sum(replicates < point[:, None, :], axis=1) + 0.5 * np.sum(
        replicates == point[:, None, :], axis=1
    )
    fraction = np.clip(
        below / np.maximum(valid, 1), 0.5 / np.maximum(valid, 1), 1 - 0.5 / np.maximum(valid, 1)
    )
    z0 = ndtri(fraction)
    out = np.empty((*point.shape, 2))
    for side, tail in enumerate((alpha / 2, 1 - alpha / 2)):
        z = z0 + ndtri(tail)
        level = ndtr(z0 + z / (1.0 - acceleration * z))
        out[..., side] = _quantile_per_column(replicates, level)
    return out


def _quantile_per_column(replicates: np.ndarray, levels: np.ndarray) -> np.ndarray:
    # replicates (R, B, F) with NaNs sorted last; levels (R, F) -> (R, F), linear interpolation
    ordered = np.sort(replicates, axis=1)
    valid = np.sum(np.isfinite(ordered), axis=1)
    position = np.clip(levels, 0.0, 1.0) * np.maximum(valid - 1, 0)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, np.maximum(valid - 1, 0))
    fraction = position - lower
    low = np.take_along_axis(ordered, lower[:, None, :], axis=1)[:, 0, :]
    high = np.take_along_axis(ordered, upper[:, None, :], axis=1)[:, 0, :]
    result = low + fraction * (high - low)
    return np.where(valid > 0, result, np.nan)

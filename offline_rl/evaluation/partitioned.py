"""Resampling units that do not depend on how the rows are partitioned: computed on one
machine or as per-partition sums merged on the driver (Spark), with the same result.

The bootstrap (:mod:`.bootstrap`) resamples *units*: events, users, or random blocks of them,
each a row of per-unit sums of the design's statistics (:mod:`.design`). Everything that
decides a unit's fate is a function of its id alone:

* its **key**, :func:`unit_keys`: a 64-bit counter-based hash of the id (an event's
  ``event_id`` or the row's position, or a ``user_id``): SplitMix64's finalizer of an integer
  id, of the 64-bit FNV-1a of a string id's UTF-8 bytes;
* its **block**, :func:`block_of`: ``hash(key, seed) mod max_units`` when there are more
  units than ``max_units`` (blocks are random, of unequal size, which keeps the bootstrap
  distribution: a block's influence is a sum of a random set of influences);
* its **Poisson(1) weight in replicate b**, :func:`.bootstrap.poisson_weights`: a hash of
  ``(seed, b, key)`` (of the block index for blocks).

Sums are mergeable, so a partition (a Spark task, a DuckDB batch, a chunk of rows) computes
the per-unit sums of its rows (:func:`partial_unit_sums`), any number of such partials are
added up by unit (:func:`merge_unit_sums`, or Spark's ``groupBy``), and the result is the
same units, keys and weights however the rows were split or ordered. Only the summation
order differs, so values agree to rounding (about 1e-15 relative), not bit for bit.

:func:`spark_resampling_units` does this on Spark: executors run
:func:`partial_unit_sums` (numpy only, through ``mapInArrow``), Spark adds the partials by
unit and then by block, and the driver receives at most ``max_units`` rows.

Two ids whose 64-bit keys collide would be resampled as one unit (with 1e9 distinct ids the
chance of any collision is about 3%; its effect, two units drawn together, is far below the
bootstrap's own noise).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from offline_rl.evaluation.hashing import block_of, unit_keys
from offline_rl.evaluation.reliability import effective_counts

if TYPE_CHECKING:
    from offline_rl.evaluation.design import Design

#: Columns of the per-unit partial sums: the key's 64 bits (as BIGINT) and the block.
KEY = "__unit_key"
BLOCK = "__unit_block"


# ------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class StatisticsLayout:
    """Which columns of a table feed the design's statistics, and how the units are formed:
    everything an executor needs to turn a batch of rows into per-unit sums.

    Attributes
    ----------
    unit
        Column of the unit id: ``"user_id"`` for the cluster (user) bootstrap, ``"event_id"``
        for events (each row its own unit).
    clustered
        Whether rows sharing a ``unit`` id are summed into one unit (users); events must have
        unique ids.
    propensity
        Column of the logging probability ``p_i``.
    policies
        Policy name -> column of its probability of the logged action.
    rewards
        Metric name -> column of its reward.
    reward_models
        Metric name -> (column of ``q(x, a_logged)``, {policy: column of ``q_pi``}).
    estimators, cap, baseline
        As in :func:`.design.build_design`.
    """

    unit: str
    clustered: bool
    propensity: str = "propensity"
    policies: Mapping[str, str] = field(default_factory=dict)
    rewards: Mapping[str, str] = field(default_factory=dict)
    reward_models: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    estimators: tuple[str, ...] = ("ips", "capped_ips", "snips", "ncis", "dm", "dr")
    cap: float = 10.0
    baseline: str | None = None

    @property
    def columns(self) -> list[str]:
        """The input columns read, each once."""
        names = [self.unit, self.propensity, *self.policies.values(), *self.rewards.values()]
        for logged, under in self.reward_models.values():
            names.extend([logged, *under.values()])
        return list(dict.fromkeys(names))

    def design(self, columns: Mapping[str, np.ndarray] | None = None) -> Design:
        """The design over ``columns`` (name -> array); with none, an empty design whose
        ``columns``, ``functionals`` and ``keys`` are those of any batch."""
        from offline_rl.evaluation.design import (  # design uses this module
            RewardModel,
            build_design,
        )

        if columns is None:
            columns = {name: np.zeros(0) for name in self.columns}
        return build_design(
            propensity=columns[self.propensity],
            policies={policy: columns[name] for policy, name in self.policies.items()},
            rewards={metric: columns[name] for metric, name in self.rewards.items()},
            estimators=self.estimators,
            cap=self.cap,
            reward_models={
                metric: RewardModel(
                    logged=columns[logged], under_policy={policy: columns[name] for policy, name in under.items()}
                )
                for metric, (logged, under) in self.reward_models.items()
            },
            baseline=self.baseline,
        )

    @property
    def width(self) -> int:
        """``k``: statistics per unit."""
        return len(self.design().columns)


def statistic_names(width: int) -> list[str]:
    return [f"s{index}" for index in range(width)]


# ------------------------------------------------------------------------------------ partitions
def partial_unit_sums(batch: pa.RecordBatch | pa.Table, layout: StatisticsLayout, *, seed: int, max_units: int | None) -> pa.RecordBatch:
    """Per-unit sums of one partition's rows: columns :data:`KEY` (the unit key's 64 bits as
    int64), :data:`BLOCK` (its block, or -1 without blocking) and ``s0 .. s{k-1}``.

    Rows sharing a unit id are summed when ``layout.clustered``; events stay one row each.
    Runs on Spark's executors (numpy and pyarrow only).
    """
    columns = {name: np.asarray(batch.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
               for name in layout.columns if name != layout.unit}
    keys = unit_keys(batch.column(layout.unit))
    stats = layout.design(columns).statistics() if len(keys) else np.zeros((0, layout.width))
    if layout.clustered and len(keys):
        keys, inverse = np.unique(keys, return_inverse=True)
        stats = _sum_by_label(stats, inverse.ravel(), keys.size)
    blocks = block_of(keys, seed=seed, blocks=max_units) if max_units is not None else np.full(keys.size, -1)
    arrays = [pa.array(keys.view(np.int64)), pa.array(blocks.astype(np.int64))]
    arrays += [pa.array(np.ascontiguousarray(stats[:, index])) for index in range(stats.shape[1])]
    return pa.RecordBatch.from_arrays(arrays, names=[KEY, BLOCK, *statistic_names(stats.shape[1])])


def _sum_by_label(stats: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, stats.shape[1]), dtype=np.float64)
    for column in range(stats.shape[1]):
        out[:, column] = np.bincount(labels, weights=stats[:, column], minlength=size)
    return out


@dataclass(frozen=True)
class ResamplingUnits:
    """What the bootstrap and the delta method take: ``(m, k)`` unit sums, their ``(m,)``
    uint64 keys (the units' own keys, or block indices when blocked), and each column's
    effective count over the units before blocking (:func:`.reliability.effective_counts`)."""

    units: np.ndarray
    keys: np.ndarray
    effective_counts: np.ndarray
    n_units: int
    """Units before blocking (events or users)."""


def merge_unit_sums(partials: Iterable[pa.RecordBatch], *, max_units: int | None) -> ResamplingUnits:
    """Add per-partition sums (:func:`partial_unit_sums`) by unit, then form the resampling
    units: the units themselves, ordered by key, when there are at most ``max_units`` (or
    ``max_units`` is None), else the sums of their non-empty blocks, ordered by block."""
    table = pa.Table.from_batches(list(partials))
    width = table.num_columns - 2
    keys = np.asarray(table.column(KEY).to_numpy()).view(np.uint64)
    blocks = np.asarray(table.column(BLOCK).to_numpy())
    stats = np.column_stack([np.asarray(table.column(name).to_numpy()) for name in statistic_names(width)]) \
        if table.num_rows else np.zeros((0, width))
    keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    units = _sum_by_label(stats, inverse.ravel(), keys.size)
    return units_from_unit_sums(units, keys, blocks[first], max_units=max_units)


def units_from_unit_sums(
    units: np.ndarray, keys: np.ndarray, blocks: np.ndarray | None, *, max_units: int | None
) -> ResamplingUnits:
    """Resampling units from complete per-unit sums (one row per unit key, ordered by key,
    with each unit's block; ``blocks`` may be None without ``max_units``)."""
    counts = effective_counts(units)
    if max_units is None or keys.size <= max_units:
        return ResamplingUnits(units=units, keys=keys, effective_counts=counts, n_units=int(keys.size))
    present, labels = np.unique(blocks, return_inverse=True)
    blocked = _sum_by_label(units, labels.ravel(), present.size)
    return ResamplingUnits(
        units=blocked, keys=present.astype(np.uint64), effective_counts=counts, n_units=int(keys.size)
    )


def batches_of(table: pa.Table, rows: int) -> Iterator[pa.RecordBatch]:
    """``table`` cut into record batches of at most ``rows`` rows (partitions, for tests and
    for a local run over a stream)."""
    yield from table.to_batches(max_chunksize=rows)


# ------------------------------------------------------------------------------------ Spark
def spark_resampling_units(
    frame: Any, layout: StatisticsLayout, *, max_units: int | None = 65536, seed: int = 0
) -> ResamplingUnits:
    """The resampling units of a Spark DataFrame, computed where its partitions lie.

    Executors turn each Arrow batch into per-unit sums (:func:`partial_unit_sums`, through
    ``mapInArrow``); Spark adds them by unit (users) and then by block, with each block's
    unit count and the sums of ``|S_u|`` and ``S_u**2`` the effective counts need. The driver
    receives one row per non-empty block, or, when there are at most ``max_units`` units, one
    row per unit. The result equals :meth:`.design.Design.resampling_units` on the same rows
    to rounding.

    Parameters
    ----------
    frame
        A Spark DataFrame holding ``layout.columns`` (e.g. logs joined with policy scores;
        rewards as 0/1 columns).
    layout
        Which columns are what (:class:`StatisticsLayout`).
    max_units, seed
        As in :class:`~offline_rl.evaluation.evaluate.EvaluationConfig`.
    """
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention

    width = layout.width
    names = statistic_names(width)
    schema = ", ".join([f"{KEY} BIGINT", f"{BLOCK} BIGINT", *(f"{name} DOUBLE" for name in names)])
    blocking = max_units if max_units is not None else None
    per_batch = partial(_map_partials, layout=layout, seed=seed, max_units=blocking)
    partials = frame.select(*layout.columns).mapInArrow(per_batch, schema)
    if layout.clustered:
        partials = partials.groupBy(KEY, BLOCK).agg(*(F.sum(name).alias(name) for name in names))
    summary = (
        partials.groupBy(BLOCK)
        .agg(
            F.count(F.lit(1)).alias("units"),
            *(F.sum(name).alias(name) for name in names),
            *(F.sum(F.abs(name)).alias(f"abs_{name}") for name in names),
            *(F.sum(F.col(name) * F.col(name)).alias(f"square_{name}") for name in names),
        )
        .toArrow()
    )
    n_units = int(pa.compute.sum(summary.column("units")).as_py() or 0)
    absolute = np.array([pa.compute.sum(summary.column(f"abs_{name}")).as_py() or 0.0 for name in names])
    square = np.array([pa.compute.sum(summary.column(f"square_{name}")).as_py() or 0.0 for name in names])
    with np.errstate(divide="ignore", invalid="ignore"):
        counts = np.where(square > 0, absolute * absolute / square, 0.0)
    if max_units is None or n_units <= max_units:
        rows = partials.toArrow()
        keys = np.asarray(rows.column(KEY).to_numpy()).view(np.uint64)
        order = np.argsort(keys, kind="stable")
        units = np.column_stack([np.asarray(rows.column(name).to_numpy())[order] for name in names]) \
            if rows.num_rows else np.zeros((0, width))
        return ResamplingUnits(units=units, keys=keys[order], effective_counts=counts, n_units=n_units)
    blocks = np.asarray(summary.column(BLOCK).to_numpy())
    order = np.argsort(blocks, kind="stable")
    units = np.column_stack([np.asarray(summary.column(name).to_numpy())[order] for name in names])
    return ResamplingUnits(
        units=units, keys=blocks[order].astype(np.uint64), effective_counts=counts, n_units=n_units
    )


def _map_partials(
    batches: Iterator[pa.RecordBatch], *, layout: StatisticsLayout, seed: int, max_units: int | None
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield partial_unit_sums(batch, layout, seed=seed, max_units=max_units)


__all__: Sequence[str] = [
    "ResamplingUnits",
    "StatisticsLayout",
    "merge_unit_sums",
    "partial_unit_sums",
    "spark_resampling_units",
    "units_from_unit_sums",
]

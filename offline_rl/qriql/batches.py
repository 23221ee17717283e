"""Mini-batches for QR-IQL training: drawn from a frame in memory, or streamed from Parquet.

Both sources hand the training loop one :class:`~offline_rl.qriql.features.TrajectoryArrays`
per step (this process's share of the global batch) and can be put back where a checkpoint
left them, so a resumed fit sees the same batches as an uninterrupted one.

- :class:`InMemoryBatches`: each step draws ``batch`` distinct rows uniformly at random from
  all training rows (``numpy.random.Generator.choice(n, batch, replace=False)`` seeded with the
  config's seed). This is the sampler QR-IQL has always used; its state is the generator's.
- :class:`StreamedBatches`: epoch ``e`` visits this rank's row groups in an order shuffled by
  a generator seeded with ``(seed, rank, e)``, reads whole row groups until at least
  ``buffer_rows`` training rows are buffered, shuffles the buffer and cuts it into batches;
  rows left over are carried into the next buffer (across epochs too), so every batch is
  full. Memory is one buffer plus one row group, whatever the table's length. Rows sorted by
  user (as ``user_trajectories`` is) mix across users only as far as a buffer spans row
  groups: keep ``buffer_rows`` at several row groups' worth. Its state is the number of
  batches handed out; restoring replays the stream that far (reading, not training).

Held-out rows (:func:`~offline_rl.qriql.features.held_out_mask`) are dropped from both, and
:func:`held_out_chunks` yields them for evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl

from offline_rl.qriql.features import TrajectoryArrays
from offline_rl.runtime import ParquetRowGroups

#: frame -> bool mask of its held-out rows.
HeldOut = Callable[[pl.DataFrame], np.ndarray]
#: frame -> its encoded (s, a, s', done) arrays.
Encode = Callable[[pl.DataFrame], TrajectoryArrays]


class InMemoryBatches:
    """Uniformly drawn batches of ``batch`` distinct rows of ``data`` (all in memory)."""

    def __init__(self, data: TrajectoryArrays, *, batch: int, seed: int) -> None:
        self.data = data
        self.batch = batch
        self.rng = np.random.default_rng(seed)

    def next_batch(self) -> TrajectoryArrays:
        return self.data.take(self.rng.choice(len(self.data), size=self.batch, replace=False))

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def restore(self, state: dict[str, Any], *, steps_done: int) -> None:
        self.rng.bit_generator.state = state["rng"]


class StreamedBatches:
    """Shuffled batches of this rank's training rows, read row group by row group."""

    def __init__(self, shard: ParquetRowGroups, *, columns: list[str], encode: Encode, held_out: HeldOut,
                 batch: int, buffer_rows: int, seed: int) -> None:
        self.shard = shard
        self.columns = columns
        self.encode = encode
        self.held_out = held_out
        self.batch = batch
        self.buffer_rows = max(buffer_rows, batch)
        self.seed = seed
        self.handed_out = 0
        self._stream = self._batches()

    def next_batch(self) -> TrajectoryArrays:
        self.handed_out += 1
        return next(self._stream)

    def state(self) -> dict[str, Any]:
        return {"handed_out": self.handed_out}

    def restore(self, state: dict[str, Any], *, steps_done: int) -> None:
        self.handed_out = 0
        self._stream = self._batches()
        for _ in range(int(state["handed_out"])):
            self.next_batch()

    def _batches(self) -> Iterator[TrajectoryArrays]:
        carry: list[TrajectoryArrays] = []
        epoch = 0
        while True:
            rng = np.random.default_rng([self.seed, self.shard.rank, epoch])
            window: list[TrajectoryArrays] = list(carry)
            buffered = sum(len(part) for part in window)
            trained_this_epoch = 0
            for position in rng.permutation(len(self.shard.groups)):
                frame = pl.from_arrow(self.shard.read(self.shard.groups[int(position)], self.columns))
                frame = frame.filter(pl.Series(~self.held_out(frame)))
                if frame.height == 0:
                    continue
                window.append(self.encode(frame))
                buffered += frame.height
                trained_this_epoch += frame.height
                if buffered >= self.buffer_rows:
                    carry = yield from self._cut(TrajectoryArrays.concat(window), rng)
                    window, buffered = list(carry), sum(len(part) for part in carry)
            if trained_this_epoch == 0:
                raise ValueError(
                    f"rank {self.shard.rank} of {self.shard.world_size} holds no training rows "
                    f"({len(self.shard.groups)} row group(s), every row held out); lower "
                    "validation_fraction or start fewer processes."
                )
            if window:
                carry = yield from self._cut(TrajectoryArrays.concat(window), rng)
            epoch += 1

    def _cut(self, rows: TrajectoryArrays, rng: np.random.Generator):
        """Yield full batches of the shuffled ``rows``; return the rows left over."""
        order = rng.permutation(len(rows))
        full = len(rows) // self.batch * self.batch
        for start in range(0, full, self.batch):
            yield rows.take(order[start:start + self.batch])
        return [rows.take(order[full:])] if full < len(rows) else []


def held_out_chunks(source: pl.DataFrame | ParquetRowGroups, *, columns: list[str], encode: Encode,
                    held_out: HeldOut, chunk_rows: int = 65536) -> Iterator[TrajectoryArrays]:
    """The held-out rows of ``source`` (a frame, or this rank's row groups), encoded in chunks."""
    frames = [source] if isinstance(source, pl.DataFrame) else (
        pl.from_arrow(table) for table in source.tables(columns))
    for frame in frames:
        frame = frame.filter(pl.Series(held_out(frame)))
        for start in range(0, frame.height, chunk_rows):
            yield encode(frame.slice(start, chunk_rows))

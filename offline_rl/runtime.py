"""Where and how a learner runs: device, CPU threads, processes, sharded Parquet, rank-0 writes.

One place for the decisions every torch learner makes the same way (docs/scale.md):

- :func:`resolve_device`: ``'auto' | 'cpu' | 'cuda'`` -> a :class:`torch.device` (``auto`` is
  CUDA when available; under ``torchrun`` each process takes the GPU of its local rank);
- :func:`default_threads` / :func:`torch_threads`: how many CPU threads torch uses;
- :func:`process_group`, :func:`current_world` and the collectives (:func:`all_reduce_sum`,
  :func:`all_gather_objects`, :func:`broadcast_object`, :func:`barrier`): DDP set-up and
  teardown for a process started by ``torchrun`` (gloo on CPU, NCCL on GPU);
- :class:`ParquetRowGroups`: the row groups of Parquet files, dealt to the ranks (each rank
  reads only its own, one row group at a time, so memory does not grow with the table);
- :func:`on_main_rank` and :func:`atomic_parquet_writer`: outputs written once, by rank 0,
  through a temporary file and a rename;
- :class:`Checkpointing`, :func:`save_checkpoint`, :func:`load_checkpoint`: resumable fits.

Nothing here knows a learner: QR-IQL uses all of it, and IGL-P can use the same pieces.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.distributed as dist

from offline_rl.data.atomic import atomic_path, atomic_write_bytes
from offline_rl.data.loading import resolve_sources

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Device settings a config accepts (``cuda`` picks the local rank's GPU under torchrun).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: The default never uses more CPU threads than this per process (small MLPs and embedding
#: look-ups: past a few threads the synchronisation costs more than it saves).
MAX_DEFAULT_THREADS = 4


# ------------------------------------------------------------------------------------ devices
def resolve_device(spec: str | torch.device = "auto", *, local_rank: int | None = None) -> torch.device:
    """The :class:`torch.device` a setting names.

    ``'auto'`` is ``'cuda'`` when ``torch.cuda.is_available()`` and ``'cpu'`` otherwise;
    ``'cuda'`` is the GPU of this process's local rank (``LOCAL_RANK``, set by torchrun; 0 in a
    plain run); ``'cuda:N'`` and ``'meta'`` (shape-only tensors, used by the tests to check
    that no tensor is created off the model's device) are taken as they are. Asking for CUDA
    on a machine without it is an error, never a silent fall-back to the CPU.
    """
    if isinstance(spec, torch.device):
        return spec
    text = str(spec).strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "meta":
        return torch.device("meta")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"device {spec!r} was asked for, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, {built}); use device 'cpu' or 'auto'."
            )
        if text == "cuda":
            index = local_rank if local_rank is not None else _env_int("LOCAL_RANK", 0)
            return torch.device("cuda", index % max(1, torch.cuda.device_count()))
        return torch.device(text)
    raise ValueError(f"device must be one of {list(DEVICE_CHOICES)} (or 'cuda:N'); got {spec!r}.")


# ------------------------------------------------------------------------------------ threads
def usable_cores() -> int:
    """Physical cores this process may run on: its CPU affinity, counted once per core (not per
    hyper-thread), capped by a cgroup CPU quota (containers); at least 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    count = len(cores) or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


def _cgroup_cpu_quota() -> float | None:
    """CPUs granted by the cgroup (v2 ``cpu.max`` or v1 ``cfs_quota_us``), None if unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def default_threads(*, local_world_size: int | None = None) -> int:
    """CPU threads per process when a config leaves ``max_threads`` unset.

    ``OMP_NUM_THREADS`` when it is set (the user's explicit choice; torchrun sets it to 1 when
    it starts several processes per machine); otherwise ``min(4, cores - 1)`` of the
    :func:`usable_cores` left to each of the ``local_world_size`` processes of this machine, and
    at least 1. One core stays free for the Parquet reader, the OS and whatever else runs: on
    the shared 2-core development machine two torch threads made a QR-IQL fit 4-20x slower
    than one (BENCHMARKS.md, "QR-IQL at scale"), so the rule gives 1 thread there. The rule reads no
    load average, so the thread count (and with it the last bits of a fit, which depend on
    how reductions are split) is the same every time on the same machine.
    """
    explicit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    processes = local_world_size if local_world_size is not None else current_world().local_world_size
    per_process = usable_cores() // max(1, processes)
    return max(1, min(MAX_DEFAULT_THREADS, per_process - 1))


def resolve_threads(max_threads: int | None) -> int:
    """``max_threads`` (at most the machine's CPU count) when set, else :func:`default_threads`;
    warns when the machine is already busier than its cores."""
    if max_threads is None:
        threads = default_threads()
    else:
        threads = max(1, min(int(max_threads), os.cpu_count() or 1))
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return threads
    cores = usable_cores()
    if threads > 1 and load > cores - threads + 0.5:
        log.warning(
            "CPU load %.1f on %d usable cores: %d torch threads may wait on each other and run "
            "many times slower than 1 (set max_threads=1 on a shared machine).", load, cores, threads,
        )
    return threads


@contextmanager
def torch_threads(limit: int | None) -> Iterator[int]:
    """Run torch on ``limit`` CPU threads (:func:`resolve_threads` when None) for the block,
    restoring the previous setting; yields the number used."""
    previous = torch.get_num_threads()
    threads = resolve_threads(limit)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


# ------------------------------------------------------------------------------------ processes
@dataclass(frozen=True)
class World:
    """This process's place among the processes of a fit (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one rank that writes outputs."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def describe(self) -> dict[str, Any]:
        """The manifest's record of how the fit ran."""
        return {"world_size": self.world_size, "backend": self.backend}


def current_world() -> World:
    """The initialised process group as a :class:`World`, or the one-process world."""
    if dist.is_available() and dist.is_initialized():
        return World(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=_env_int("LOCAL_RANK", 0),
            local_world_size=_env_int("LOCAL_WORLD_SIZE", 1),
            backend=str(dist.get_backend()),
        )
    return World(local_world_size=_env_int("LOCAL_WORLD_SIZE", 1))


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors, gloo for everything else."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def process_group(device: str | torch.device = "auto", *, timeout_minutes: float = 30.0) -> Iterator[World]:
    """Join the process group that ``torchrun`` launched this process into, for the block.

    torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
    with ``WORLD_SIZE`` > 1 this initialises the default group (``env://``) with NCCL when
    ``device`` resolves to CUDA (after ``torch.cuda.set_device`` of the local rank's GPU) and
    gloo otherwise, and destroys it on exit. A plain run (``WORLD_SIZE`` unset or 1), or one
    whose group is already initialised by the caller, yields :func:`current_world` and leaves
    the group as it found it.
    """
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1 or not dist.is_available() or dist.is_initialized():
        yield current_world()
        return
    target = resolve_device(device, local_rank=_env_int("LOCAL_RANK", 0))
    backend = backend_for(target)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes),
                            device_id=target if target.type == "cuda" else None)
    try:
        world = current_world()
        log.info("process group: rank %d of %d (%s, %s)", world.rank, world.world_size, backend, target)
        yield world
    finally:
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Tensors passed to NCCL collectives must live on this process's GPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64); the values themselves alone."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def all_gather_objects(value: T) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: T, *, src: int = 0) -> T:
    """Rank ``src``'s ``value`` on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every rank (nothing in one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def on_main_rank(write: Callable[[], T]) -> T | None:
    """Run ``write`` on rank 0 only; every rank returns once it is done (None off rank 0).

    If ``write`` fails on rank 0 every rank raises, with rank 0's message, instead of the others
    waiting at a barrier until the group times out.
    """
    world = current_world()
    result: T | None = None
    failure: str | None = None
    error: BaseException | None = None
    if world.is_main:
        try:
            result = write()
        except Exception as caught:  # re-raised below, after the other ranks hear of it
            failure, error = f"{type(caught).__name__}: {caught}", caught
    failure = broadcast_object(failure) if world.is_distributed else failure
    if error is not None:
        raise error
    if failure is not None:
        raise RuntimeError(f"rank 0 failed to write its output: {failure}")
    return result


# ------------------------------------------------------------------------------------ Parquet
@dataclass(frozen=True)
class RowGroup:
    """One row group of one Parquet file."""

    path: Path
    index: int
    rows: int


class ParquetRowGroups:
    """The row groups of Parquet files, dealt round-robin to the ranks of a process group.

    Rank ``r`` of ``W`` owns row groups ``r, r + W, r + 2W, ...`` of the list of every file's
    row groups (files in sorted path order): the shards are disjoint, cover every row, and
    hold nearly the same number of row groups; dealing in turn rather than in blocks spreads a
    table sorted by user over every rank. Reading goes one row group at a time
    (:meth:`tables`), so a reader's memory is one row group's, whatever the table's length.

    Parameters
    ----------
    source : path, glob, folder or list of them
        Parquet files with the same columns.
    rank, world_size : int
        This process's shard; :meth:`shard` gives another one.
    """

    def __init__(self, source: Any, *, rank: int = 0, world_size: int = 1) -> None:
        paths = resolve_sources(source) if not isinstance(source, ParquetRowGroups) else source.paths
        non_parquet = [str(p) for p in paths if not p.name.lower().endswith(".parquet")]
        if non_parquet:
            raise ValueError(f"ParquetRowGroups reads Parquet files only; got {non_parquet[:3]}.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}); got {rank}.")
        self.paths: tuple[Path, ...] = tuple(paths)
        self.rank = rank
        self.world_size = world_size
        groups: list[RowGroup] = []
        names: list[str] | None = None
        for path in self.paths:
            metadata = pq.read_metadata(path)
            file_names = list(pq.read_schema(path).names)
            if names is None:
                names = file_names
            elif set(file_names) != set(names):
                raise ValueError(
                    f"{path}: columns {sorted(file_names)} differ from {self.paths[0]}'s {sorted(names)}; "
                    "every file of one input must have the same columns."
                )
            groups.extend(RowGroup(path, i, metadata.row_group(i).num_rows) for i in range(metadata.num_row_groups))
        self.columns: list[str] = names or []
        self.all_groups: tuple[RowGroup, ...] = tuple(groups)
        self.groups: tuple[RowGroup, ...] = self.all_groups[rank::world_size]
        if world_size > 1 and len(self.all_groups) < world_size:
            raise ValueError(
                f"{self.paths[0]}{' and others' if len(self.paths) > 1 else ''}: "
                f"{len(self.all_groups)} row group(s) for {world_size} ranks; every rank needs at "
                "least one. Write the file with smaller row groups (pyarrow.parquet.write_table("
                "..., row_group_size=N)) or start fewer processes."
            )

    def shard(self, rank: int, world_size: int) -> ParquetRowGroups:
        """The same files, shard ``rank`` of ``world_size``."""
        return ParquetRowGroups(self, rank=rank, world_size=world_size)

    @property
    def rows(self) -> int:
        """Rows in this rank's shard."""
        return sum(group.rows for group in self.groups)

    @property
    def total_rows(self) -> int:
        """Rows in every shard together."""
        return sum(group.rows for group in self.all_groups)

    def read(self, group: RowGroup, columns: Sequence[str] | None = None) -> pa.Table:
        """One row group (``columns`` only, when given)."""
        return pq.ParquetFile(group.path).read_row_group(group.index, columns=list(columns) if columns else None)

    def tables(self, columns: Sequence[str] | None = None,
               order: Sequence[int] | None = None) -> Iterator[pa.Table]:
        """This shard's row groups one at a time, in ``order`` (positions in :attr:`groups`)."""
        positions = range(len(self.groups)) if order is None else order
        handles: dict[Path, pq.ParquetFile] = {}
        for position in positions:
            group = self.groups[position]
            handle = handles.get(group.path)
            if handle is None:
                handles.clear()  # one open file at a time
                handle = handles[group.path] = pq.ParquetFile(group.path)
            yield handle.read_row_group(group.index, columns=list(columns) if columns else None)

    def __repr__(self) -> str:
        return (f"ParquetRowGroups({len(self.paths)} file(s), {len(self.all_groups)} row groups, "
                f"rank {self.rank} of {self.world_size}: {len(self.groups)} groups, {self.rows} rows)")


@contextmanager
def atomic_parquet_writer(path: str | os.PathLike[str], schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A :class:`pyarrow.parquet.ParquetWriter` onto a temporary file beside ``path``, moved onto
    ``path`` when the block ends without error (so a reader never sees a half-written file,
    and an output too large for memory is written batch by batch)."""
    with atomic_path(path) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        yield writer


# ------------------------------------------------------------------------------------ checkpoints
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often a fit saves its full training state, and whether to resume.

    ``every`` steps the fit writes ``directory / checkpoint.pt`` atomically (rank 0 only). With
    ``resume`` a fit that finds a checkpoint there continues from it and ends with the model
    an uninterrupted fit would have given (same data, config, seed, process count and thread
    count); without one it starts afresh.
    """

    directory: Path
    every: int
    resume: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", Path(self.directory))
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise ValueError(f"Checkpointing.every must be an int >= 1 (steps); got {self.every!r}.")

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_FILE


def save_checkpoint(path: str | os.PathLike[str], tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` (tensors and state dicts) and the JSON-able ``meta`` as one file,
    atomically; :func:`load_checkpoint` reads it back with ``weights_only=True``."""
    buffer = io.BytesIO()
    torch.save({"tensors": tensors, "meta_json": json.dumps(meta)}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tensors, meta)`` written by :func:`save_checkpoint`."""
    document = torch.load(path, weights_only=True, map_location=device)
    return document["tensors"], json.loads(document["meta_json"])

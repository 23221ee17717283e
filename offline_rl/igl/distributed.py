"""IGL-P's trainers in several processes: users dealt to ranks, DDP on the dense parameters.

Under ``torchrun --nproc-per-node N -m offline_rl fit-igl`` (docs/scale.md) every process
holds the rows of its own users and trains the same IK models, alpha classifier and policy
with :class:`torch.nn.parallel.DistributedDataParallel` (gloo on CPU, NCCL on GPU; the group
itself is :func:`offline_rl.runtime.process_group`'s). One process is the special case
``world_size == 1`` of every function here, and takes exactly the code path (and gives
exactly the bits) it took before DDP existed.

**Why users, not row groups, are dealt to the ranks.** A user's rows all live in one process
(rank ``hash(user) mod N``, :func:`user_ranks`), so

* the per-user prior of the IK objective (``user_prior_precision |d_u|^2 / (2 W_u)``) needs
  W_u, the user's total weight: it is computed where the rows are, without a collective;
* a user's deviation row ``d_u`` is a *sparse* parameter that only its owner's rows move: it
  stays out of DDP's all-reduce (NCCL has no sparse all-reduce, and summing millions of
  untouched rows would cost more than the model); its owner steps it with SparseAdam, and
  :meth:`DataParallel.gather_owned_rows` copies every owner's rows to every process when a
  model is finished;
* the cross-fitting folds depend on (user, time block) alone (:mod:`offline_rl.igl.folds`), so
  they are the one-process folds whatever N is.

The price: a Parquet input sorted by time has every user in every row group, so each process
scans every row group (the ``user_id`` column first, then the rows it keeps): the I/O is N
times one pass, the memory 1/N of the rows.

**Same global batch.** An epoch takes ``ceil(rows / batch_size)`` steps over the rows of every
process; each process cuts its own shuffled rows into that many nearly equal chunks, so a
step's rows over all processes number ``batch_size`` up to rounding. Each step's loss is the
weighted mean over the step's rows of *every* process: a process scales its weighted sum by
``N / (total weight of the step)`` (the totals of an epoch's steps come from one all-reduce),
DDP averages the dense gradients, and the owned sparse rows, whose gradient no other process
sees, have theirs divided by N; so every gradient is the one-process gradient of the same
objective on the union of the step's rows.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from offline_rl.igl.folds import stable_id_hash
from offline_rl.runtime import World, all_gather_objects, all_reduce_sum, current_world

#: Seed of the user -> rank hash; fixed (not the config's seed), so a user's process does not
#: change with the seed, and independent of the fold hash (which uses the config's seed).
SHARD_SEED = 0x5EED_0F_0BE75

# Buffers (context scaling, known users) are set alike on every process before training and
# never change during it: DDP need not send them at every forward.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def user_ranks(user_ids: pl.Series, world_size: int) -> np.ndarray:
    """The rank that owns each user id: ``hash(SHARD_SEED, user) mod world_size`` (stable
    across processes, runs and library versions; :func:`~offline_rl.igl.folds.stable_id_hash`)."""
    if world_size <= 1:
        return np.zeros(len(user_ids), dtype=np.int64)
    return (stable_id_hash(user_ids, SHARD_SEED) % np.uint64(world_size)).astype(np.int64)


def sparse_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(qualified name, parameter) of every sparse embedding table of ``module``."""
    return [(f"{name}.weight" if name else "weight", sub.weight) for name, sub in module.named_modules()
            if isinstance(sub, nn.Embedding) and sub.sparse]


@dataclass(frozen=True)
class DataParallel:
    """How this process's rows relate to every process's rows (a :class:`World` plus the
    arithmetic of splitting epochs and reducing sums). ``DataParallel()`` is one process."""

    world: World = World()

    @classmethod
    def current(cls) -> DataParallel:
        return cls(current_world())

    @property
    def distributed(self) -> bool:
        return self.world.is_distributed

    # ------------------------------------------------------------------ reductions
    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the processes (the values themselves in one process)."""
        return all_reduce_sum(values) if self.distributed else [float(v) for v in values]

    def any(self, flag: bool) -> bool:
        return bool(self.sum([float(flag)])[0] > 0) if self.distributed else bool(flag)

    def all(self, flag: bool) -> bool:
        return not self.any(not flag)

    def rows(self, local: int) -> int:
        """Rows over every process."""
        return int(self.sum([local])[0])

    # ------------------------------------------------------------------ epochs
    def epoch_chunks(self, order: np.ndarray, batch_size: int) -> list[np.ndarray]:
        """This process's rows of each step of an epoch, in the shuffled ``order``.

        One process: consecutive slices of ``batch_size`` rows (the sampler IGL-P always
        used). Several: ``ceil(global rows / batch_size)`` steps, this process's rows cut
        into that many nearly equal chunks (some empty when it has fewer rows than steps).
        """
        if not self.distributed:
            return [order[start:start + batch_size] for start in range(0, order.shape[0], batch_size)]
        steps = max(1, math.ceil(self.rows(order.shape[0]) / batch_size))
        return np.array_split(order, steps)

    def step_totals(self, weights: np.ndarray, chunks: list[np.ndarray]) -> np.ndarray:
        """Total weight of each step over every process (one all-reduce per epoch)."""
        local = [float(weights[chunk].astype(np.float64).sum()) for chunk in chunks]
        return np.asarray(self.sum(local), dtype=np.float64)

    def loss_scale(self, step_total: float) -> float:
        """What a process multiplies its weighted sum by so that DDP's average of the
        gradients is the gradient of the weighted mean over the step's rows of every process."""
        return self.world.world_size / max(step_total, 1e-12)

    # ------------------------------------------------------------------ models
    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` under DDP (sparse tables left out, buffers not re-sent, parameters
        unused in a step allowed: the IK warm-up leaves the context encoder idle); the
        module itself in one process."""
        if not self.distributed:
            return module
        ignored = [name for name, _ in sparse_parameters(module)]
        if ignored:
            nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)
        return nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True, **_NO_BUFFER_SYNC)

    def scale_sparse_gradients(self, module: nn.Module) -> None:
        """Divide the owned sparse rows' gradients by N (see the module docstring)."""
        if not self.distributed:
            return
        for _, parameter in sparse_parameters(module):
            if parameter.grad is not None:
                parameter.grad.mul_(1.0 / self.world.world_size)

    def gather_owned_rows(self, module: nn.Module, owned: np.ndarray) -> None:
        """Copy each sparse table's rows from the process that owns them to every process
        (``owned``: bool per vocabulary row, True where this process owns the user)."""
        if not self.distributed:
            return
        for _, parameter in sparse_parameters(module):
            if parameter.shape[0] != owned.shape[0]:
                continue
            rows = np.flatnonzero(owned)
            mine = parameter.detach()[torch.as_tensor(rows, device=parameter.device)].cpu()
            with torch.no_grad():
                for their_rows, values in all_gather_objects((rows, mine)):
                    index = torch.as_tensor(their_rows, device=parameter.device)
                    parameter[index] = values.to(parameter.device)

    def check_replicas_agree(self, module: nn.Module, what: str) -> None:
        """Every process must end with the same weights; a difference is a bug."""
        if not self.distributed:
            return
        digest = hashlib.sha256()
        for name, value in module.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        digests = all_gather_objects(digest.hexdigest())
        if len(set(digests)) > 1:
            raise RuntimeError(f"the {len(digests)} processes ended with different {what} weights.")

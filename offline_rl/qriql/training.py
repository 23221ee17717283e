"""The QR-IQL training loop: Adam on the one objective, held-out evaluation, early stopping,
checkpoints and data-parallel processes.

Every loss the learner computes -- the training step's, the held-out evaluation's and
:meth:`QRIQL.loss` -- goes through :func:`batch_loss`, i.e. :func:`~offline_rl.qriql.objective.
qriql_loss` with the config's settings (``huber_kappa`` included, for every N), so the number
reported is the number minimised.

Under DDP (a process group of ``W`` processes, :mod:`offline_rl.runtime`) each process draws
its share ``B / W`` of the global batch ``B`` from its own rows; DDP averages the gradients, so
one step follows the gradient of the mean loss over ``B`` rows, as one process with batch ``B``
would. The held-out loss is summed over every process's held-out rows before it is compared,
so every process takes the same early-stopping decision.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from offline_rl.qriql.config import QRIQLConfig
from offline_rl.qriql.features import StateArrays, TrajectoryArrays
from offline_rl.qriql.network import QuantileQNetwork
from offline_rl.qriql.objective import LossParts, qriql_loss
from offline_rl.runtime import (
    Checkpointing,
    World,
    all_gather_objects,
    all_reduce_sum,
    load_checkpoint,
    save_checkpoint,
)

log = logging.getLogger(__name__)

# The network's buffers (item -> category, item features) never change: DDP need not send them
# at every forward. torch 2.13 renamed the option (and deprecated the old name).
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


class BatchSource(Protocol):
    """What the loop needs of :class:`~offline_rl.qriql.batches.InMemoryBatches` and
    :class:`~offline_rl.qriql.batches.StreamedBatches`."""

    def next_batch(self) -> TrajectoryArrays: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any], *, steps_done: int) -> None: ...


def state_tensors(state: StateArrays, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The network's five inputs on ``device``."""
    return tuple(
        torch.from_numpy(np.ascontiguousarray(array)).to(device, non_blocking=True)
        for array in (state.history_items, state.history_responses, state.item, state.position,
                      state.context)
    )


class PairForward(nn.Module):
    """``lambda(s)`` and ``lambda(s')`` in one call: DDP prepares its gradient hooks once per
    forward call, so both passes of a step must go through one."""

    def __init__(self, network: QuantileQNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, state: tuple[torch.Tensor, ...], next_state: tuple[torch.Tensor, ...]):
        return self.network(*state), self.network(*next_state)


def terminal_of(network: QuantileQNetwork, config: QRIQLConfig) -> torch.Tensor | None:
    """``V_i`` of the absorbing end-of-session state when the config learns it, else None (0)."""
    return network.terminal_value if config.terminal_value == "learned" else None


def batch_loss(pair: nn.Module, network: QuantileQNetwork, batch: TrajectoryArrays, *,
               config: QRIQLConfig, device: torch.device) -> LossParts:
    """The QR-IQL loss (Algorithm 1) of ``batch``: the one objective trained and reported.

    ``pair`` is :class:`PairForward` of ``network``, or its DDP wrapper while training.
    """
    values, next_values = pair(state_tensors(batch.state, device), state_tensors(batch.next_state, device))
    return qriql_loss(
        values,
        torch.from_numpy(batch.action).to(device, non_blocking=True),
        next_values,
        torch.from_numpy(batch.done).to(device, non_blocking=True),
        gamma=config.gamma, alpha=config.alpha, temperature=config.temperature,
        huber_kappa=config.huber_kappa, terminal_value=terminal_of(network, config),
    )


def mean_loss(network: QuantileQNetwork, chunks: Iterable[TrajectoryArrays], *, config: QRIQLConfig,
              device: torch.device) -> tuple[float, int]:
    """``(mean loss, rows)`` over every row of ``chunks`` and of every process's chunks.

    The loss is a mean over rows (and quantiles), so chunk means weighted by chunk size, summed
    over the processes, give the mean over all rows exactly (up to float rounding).
    """
    pair = PairForward(network)
    total, rows = 0.0, 0
    with torch.no_grad():
        for chunk in chunks:
            if len(chunk):
                total += float(batch_loss(pair, network, chunk, config=config, device=device).loss) * len(chunk)
                rows += len(chunk)
    total, rows = all_reduce_sum([total, rows])
    return (total / rows if rows else math.nan), int(rows)


@dataclass
class TrainingOutcome:
    """What :func:`train` did.

    ``loss_curve`` holds the training loss of each step (averaged over the processes);
    ``validation_curve`` ``[step, held-out loss]`` pairs; ``best_step`` the step whose weights
    the network ends with when there is a validation split (None without one).
    """

    loss_curve: list[float] = field(default_factory=list)
    validation_curve: list[list[float]] = field(default_factory=list)
    best_step: int | None = None
    best_loss: float | None = None
    bad_evaluations: int = 0
    steps: int = 0
    stopped_early: bool = False
    resumed_from: int | None = None


def train(
    network: QuantileQNetwork,
    batches: BatchSource,
    *,
    config: QRIQLConfig,
    steps: int,
    device: torch.device,
    world: World,
    evaluate: Callable[[], float] | None = None,
    checkpointing: Checkpointing | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> TrainingOutcome:
    """Train ``network`` in place for up to ``steps`` Adam steps.

    With ``evaluate`` (the held-out loss), the loss is measured every ``validation_every``
    steps and after the last one; the network ends with the weights of the lowest value, and
    ``patience`` evaluations without a lower one stop the fit. With ``checkpointing`` the full
    state (weights, Adam moments, curves, best weights, the batch source's position) is saved
    every ``checkpointing.every`` steps by rank 0, and ``checkpointing.resume`` continues from
    a saved state whose ``fingerprint`` (config and data) matches.
    """
    # Unused in the loss with terminal_value='zero': DDP must not wait for its gradient
    # (Adam skips a parameter without one either way).
    network.terminal_value.requires_grad_(terminal_of(network, config) is not None)
    try:
        return _train(network, batches, config=config, steps=steps, device=device, world=world,
                      evaluate=evaluate, checkpointing=checkpointing, fingerprint=fingerprint)
    finally:
        network.terminal_value.requires_grad_(True)
        network.eval()


def _train(network: QuantileQNetwork, batches: BatchSource, *, config: QRIQLConfig, steps: int,
           device: torch.device, world: World, evaluate: Callable[[], float] | None,
           checkpointing: Checkpointing | None, fingerprint: dict[str, Any] | None) -> TrainingOutcome:
    network.train()
    pair: nn.Module = PairForward(network)
    if world.is_distributed:
        pair = nn.parallel.DistributedDataParallel(
            pair, device_ids=[device.index] if device.type == "cuda" else None, **_NO_BUFFER_SYNC)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    outcome = TrainingOutcome()
    best_state: dict[str, torch.Tensor] | None = None
    fingerprint = dict(fingerprint or {}, world_size=world.world_size)
    if checkpointing is not None and checkpointing.resume:
        best_state = _resume(checkpointing, network, optimizer, batches, outcome, fingerprint, device, world)
    step = outcome.steps
    while step < steps and not outcome.stopped_early:
        step += 1
        parts = batch_loss(pair, network, batches.next_batch(), config=config, device=device)
        optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        optimizer.step()
        loss = float(parts.loss.detach())
        outcome.loss_curve.append(all_reduce_sum([loss])[0] / world.world_size if world.is_distributed else loss)
        outcome.steps = step
        if evaluate is not None and (step % config.validation_every == 0 or step == steps):
            best_state = _evaluate(evaluate, network, outcome, best_state, config)
        if checkpointing is not None and step % checkpointing.every == 0 and step < steps:
            _checkpoint(checkpointing, network, optimizer, batches, outcome, best_state, fingerprint, world)
    if outcome.stopped_early and evaluate is not None:
        log.info("early stop at step %d: %d evaluations without a lower held-out loss than %.6f (step %d)",
                 outcome.steps, outcome.bad_evaluations, outcome.best_loss, outcome.best_step)
    if best_state is not None:
        network.load_state_dict(best_state)
    if world.is_distributed:
        _check_replicas_agree(network)
    return outcome


def _check_replicas_agree(network: nn.Module) -> None:
    """Every process must end with the same weights (DDP keeps them in step); a difference is a
    bug, and rank 0's artifact would silently be one of several models."""
    digest = hashlib.sha256()
    for name, value in network.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    digests = all_gather_objects(digest.hexdigest())
    if len(set(digests)) > 1:
        raise RuntimeError(f"the {len(digests)} processes ended with different weights ({digests}).")


def _evaluate(evaluate: Callable[[], float], network: QuantileQNetwork, outcome: TrainingOutcome,
              best_state: dict[str, torch.Tensor] | None, config: QRIQLConfig) -> dict[str, torch.Tensor] | None:
    held_out = evaluate()
    outcome.validation_curve.append([outcome.steps, held_out])
    log.info("step %d: held-out loss %.6f", outcome.steps, held_out)
    if outcome.best_loss is None or held_out < outcome.best_loss:
        outcome.best_loss, outcome.best_step, outcome.bad_evaluations = held_out, outcome.steps, 0
        return {name: value.detach().clone() for name, value in network.state_dict().items()}
    outcome.bad_evaluations += 1
    if config.patience is not None and outcome.bad_evaluations >= config.patience:
        outcome.stopped_early = True
    return best_state


def _checkpoint(checkpointing: Checkpointing, network: QuantileQNetwork, optimizer: torch.optim.Optimizer,
                batches: BatchSource, outcome: TrainingOutcome, best_state: dict[str, torch.Tensor] | None,
                fingerprint: dict[str, Any], world: World) -> None:
    # Every rank's batch source has its own position; rank 0 stores them all.
    positions = all_gather_objects(batches.state())
    if not world.is_main:
        return
    tensors: dict[str, Any] = {
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    if best_state is not None:
        tensors["best"] = best_state
    meta = {
        "fingerprint": fingerprint,
        "steps": outcome.steps,
        "loss_curve": outcome.loss_curve,
        "validation_curve": outcome.validation_curve,
        "best_step": outcome.best_step,
        "best_loss": outcome.best_loss,
        "bad_evaluations": outcome.bad_evaluations,
        "stopped_early": outcome.stopped_early,
        "batches": positions,
    }
    save_checkpoint(checkpointing.path, tensors, meta)
    log.info("checkpoint at step %d -> %s", outcome.steps, checkpointing.path)


def _resume(checkpointing: Checkpointing, network: QuantileQNetwork, optimizer: torch.optim.Optimizer,
            batches: BatchSource, outcome: TrainingOutcome, fingerprint: dict[str, Any],
            device: torch.device, world: World) -> dict[str, torch.Tensor] | None:
    found = all_gather_objects(checkpointing.path.is_file())
    if any(found) and not all(found):
        raise ValueError(
            f"checkpoint {checkpointing.path} is visible to ranks {[r for r, f in enumerate(found) if f]} "
            "only; a distributed fit resumes from a folder every rank can read."
        )
    if not found[0]:
        log.info("no checkpoint at %s: starting from step 0", checkpointing.path)
        return None
    tensors, meta = load_checkpoint(checkpointing.path, device=device)
    saved = meta["fingerprint"]
    differences = sorted(key for key in set(saved) | set(fingerprint) if saved.get(key) != fingerprint.get(key))
    if differences:
        shown = {key: (saved.get(key), fingerprint.get(key)) for key in differences[:4]}
        raise ValueError(
            f"checkpoint {checkpointing.path} belongs to another fit: {differences} differ "
            f"(saved, now): {shown}. Resume with the same data, config and number of processes, "
            "or start afresh without resume."
        )
    network.load_state_dict(tensors["network"])
    optimizer.load_state_dict(tensors["optimizer"])
    torch.set_rng_state(tensors["torch_rng"].cpu())
    outcome.steps = int(meta["steps"])
    outcome.loss_curve = list(meta["loss_curve"])
    outcome.validation_curve = [list(pair) for pair in meta["validation_curve"]]
    outcome.best_step = meta["best_step"]
    outcome.best_loss = meta["best_loss"]
    outcome.bad_evaluations = int(meta["bad_evaluations"])
    outcome.stopped_early = bool(meta["stopped_early"])
    outcome.resumed_from = outcome.steps
    batches.restore(meta["batches"][world.rank], steps_done=outcome.steps)
    log.info("resumed from %s at step %d", checkpointing.path, outcome.steps)
    return tensors.get("best")

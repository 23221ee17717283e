"""Cross-fitted IK models: out-of-fold decoding, early stopping and restarts without the truth.

For each fold f of :mod:`offline_rl.igl.folds`, one IK model is trained on the other folds'
rows and decodes the rows of fold f, so no decoded reward comes from a model that saw its
row. Inside its training folds, the model holds out whole user-time blocks
(``validation_fraction``) as its inner validation set, and that set alone decides

* **when to stop** (early stopping): after each epoch the inner-validation weighted NLL is
  measured; training stops once it has not improved for ``ik_patience`` epochs after the
  action-only warm-up, or after ``ik_epochs``; the weights of the best epoch are restored;
* **whether to restart** (the no-signal trap, docs/igl.md): an attempt whose best
  inner-validation NLL is not ``ESCAPE_MARGIN`` below the no-signal level (weighted mean
  log K of those rows) is followed by a fresh one, up to ``ik_restarts`` attempts; the
  attempt with the best inner-validation NLL is kept. Restarts cost nothing when the first
  attempt escapes.

The out-of-fold NLL of every row under the model that decoded it, against the no-signal
NLL of the same rows, is the fit's signal check, on every fit: cold or warm, one restart or
many.

A warm start (last night's model) seeds fold model f's first attempt with last night's
fold-f model (:mod:`offline_rl.igl.warm_start`), without the warm-up; further attempts start
cold. Fold assignment depends on the row alone, so last night's fold-f model never trained on
a row tonight's fold f decodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from offline_rl.igl.batch import Batch
from offline_rl.igl.folds import CrossFitFolds
from offline_rl.igl.ik_model import (
    IKEnsemble,
    IKNet,
    IKTrainer,
    IKTrainingRecord,
    context_moments,
    held_out_nll,
    ik_probabilities,
    left_no_signal,
    nll_sums,
    no_signal_nll,
)

#: An epoch improves on the best inner-validation NLL only by more than this (nats).
MIN_IMPROVEMENT = 1e-4

#: Until a model has left the no-signal point it trains at this multiple of
#: ``ik_learning_rate`` (larger steps cross the saddle sooner: on the 48k-event Covertype
#: stream 5 of 6 fold models escaped within 30 epochs, against 2 of 6 at the base rate),
#: then at the base rate (a constant 3x rate also escaped but settled at a worse held-out
#: likelihood, 0.10-0.15 nats below no-signal instead of 0.14-0.23).
ESCAPE_LEARNING_RATE_FACTOR = 3.0


@dataclass(frozen=True, eq=False)
class CrossFitIK:
    """What :func:`fit_crossfit_ik` produced.

    Attributes
    ----------
    ensemble : IKEnsemble
        The fold models (member f decoded fold f).
    records : list of IKTrainingRecord
        Every attempt of every fold model, in training order.
    out_of_fold : float64 (n, k_max)
        P_hat(. | x, y, A) of each row under the fold model that did not train on it.
    known_user, known_feedback : bool (n,)
        Whether that model learnt from the row's user / signal (else the row was decoded
        through the population representation / as an uninformative signal).
    held_out_nll, no_signal_nll : float
        The NLL of every row's logged action under the fold model that did not train on it
        (importance-weighted under the synthetic uniform distribution, or under the logging
        distribution when it is known), and of the no-signal model on the same rows.
    """

    ensemble: IKEnsemble
    records: list[IKTrainingRecord]
    out_of_fold: np.ndarray
    known_user: np.ndarray
    known_feedback: np.ndarray
    held_out_nll: float
    no_signal_nll: float

    @property
    def found_signal(self) -> bool:
        return left_no_signal(self.held_out_nll, self.no_signal_nll)


def fit_crossfit_ik(
    config,
    batch: Batch,
    folds: CrossFitFolds,
    make_net: Callable[[], IKNet],
    *,
    warm_start: Callable[[IKNet, int], None] | None = None,
    device: torch.device | str = "cpu",
) -> CrossFitIK:
    """Train one IK model per fold (``config`` is an ``IGLPConfig``) and decode out of fold.

    ``make_net()`` builds a freshly initialised :class:`IKNet` (from torch's global generator,
    which is seeded per attempt here); ``warm_start(net, fold)``, when given, loads last
    night's parameters for ``fold`` into ``net``.
    """
    members: list[IKNet] = []
    records: list[IKTrainingRecord] = []
    out_of_fold = np.zeros(batch.candidates.shape, dtype=np.float64)
    known_user = np.zeros(len(batch), dtype=bool)
    known_feedback = np.zeros(len(batch), dtype=bool)
    total_nll = total_weight = 0.0
    for fold in range(folds.n_folds):
        inner = folds.inner_validation(fold, config.validation_fraction)
        train_rows = np.flatnonzero(folds.training_rows(fold) & ~inner)
        if train_rows.size == 0:
            raise ValueError(
                f"IGLP.fit: fold {fold} of {folds.n_folds} has no training rows; the frame's "
                f"{len(batch)} rows fall in too few user-time blocks for cross-fitting. "
                f"Pass more rows or fewer crossfit_folds.")
        train = batch.take(train_rows)
        validation = batch.take(np.flatnonzero(inner))
        net, fold_records = _fit_fold(config, fold, train, validation, make_net, warm_start, device)
        members.append(net)
        records.extend(fold_records)
        decoded = np.flatnonzero(folds.fold == fold)
        if decoded.size:
            rows = batch.take(decoded)
            out_of_fold[decoded] = ik_probabilities(net, rows)
            fold_nll, fold_weight = nll_sums(net, rows)
            total_nll += fold_nll
            total_weight += fold_weight
            known_user[decoded] = net.known_user.cpu().numpy()[batch.user[decoded]]
            known_feedback[decoded] = net.known_feedback.cpu().numpy()[batch.feedback[decoded]]
    held_out = total_nll / max(total_weight, 1e-12)
    return CrossFitIK(IKEnsemble(members).eval(), records, out_of_fold, known_user,
                      known_feedback, held_out, no_signal_nll(batch))


def _fit_fold(config, fold: int, train: Batch, validation: Batch, make_net, warm_start,
              device) -> tuple[IKNet, list[IKTrainingRecord]]:
    """Attempts (restarts on demand) of one fold model; returns the kept one and the records."""
    monitor = validation if len(validation) else train
    no_signal = no_signal_nll(monitor)
    moments = (context_moments(train.context)
               if train.context.shape[0] and train.context.shape[1] else None)
    attempts: list[tuple[IKNet, dict]] = []
    for restart in range(config.ik_restarts):
        seed = config.seed * 1000 + fold * 100 + restart
        torch.manual_seed(seed)
        net = make_net()
        warm = warm_start is not None and restart == 0
        if warm:
            warm_start(net, fold)
        net.mark_known(train.user, train.feedback)
        net.context.set_scaling(train.context, moments)
        trainer = IKTrainer(
            net, train, batch_size=config.ik_batch_size, learning_rate=config.ik_learning_rate,
            weight_decay=config.ik_weight_decay, prior_precision=config.user_prior_precision,
            action_prior_precision=config.action_prior_precision,
            seed=seed, warmup_epochs=0 if warm else config.ik_warmup_epochs, device=device,
        )
        result = _train_with_early_stopping(config, trainer, monitor, no_signal)
        attempts.append((net, {"restart": restart, "seed": seed, "warm_started": warm, **result}))
        if left_no_signal(result["validation_nll"], no_signal):
            break  # escaped the no-signal point: no further restart is needed
    kept = int(np.argmin([info["validation_nll"] for _, info in attempts]))
    records = [IKTrainingRecord(fold=fold, no_signal_nll=no_signal, kept=index == kept, **info)
               for index, (_, info) in enumerate(attempts)]
    return attempts[kept][0].eval(), records


def _train_with_early_stopping(config, trainer: IKTrainer, monitor: Batch,
                               no_signal: float) -> dict:
    """Epochs until the monitored NLL has not improved for ``ik_patience`` epochs, counted
    only once the model has left the no-signal point (or ``ik_epochs``); the best epoch's
    weights are restored.

    The learning rate is ``ESCAPE_LEARNING_RATE_FACTOR`` times the configured one until the
    model has left the no-signal point, then the configured one. Patience waits for the
    escape because a model on its way out of the no-signal point
    often gets *worse* on held-out rows first (it fits noise while the decoder and the reward
    predictor are still uninformative) and then drops well below the no-signal level; a
    patience counted from the start would stop it on that plateau.
    """
    net = trainer.net
    escaping = True
    trainer.set_learning_rate(config.ik_learning_rate * ESCAPE_LEARNING_RATE_FACTOR)
    best, best_epoch, stale = math.inf, 0, 0
    best_state = {name: value.detach().clone() for name, value in net.state_dict().items()}
    curve: list[float] = []
    for epoch in range(1, config.ik_epochs + 1):
        trainer.run_epoch()
        value = held_out_nll(net, monitor)
        curve.append(value)
        if value < best - MIN_IMPROVEMENT:
            best, best_epoch, stale = value, epoch, 0
            best_state = {name: v.detach().clone() for name, v in net.state_dict().items()}
        else:
            stale += 1
        if escaping and left_no_signal(best, no_signal):
            escaping = False
            trainer.set_learning_rate(config.ik_learning_rate)
        if epoch <= trainer.warmup_epochs or not left_no_signal(best, no_signal):
            stale = 0
        elif stale >= config.ik_patience:
            break
    net.load_state_dict(best_state)
    return {"train_nll": trainer.epoch_loss, "validation_nll": best, "epochs": len(curve),
            "best_epoch": best_epoch, "curve": tuple(curve)}

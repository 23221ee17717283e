"""IGL-P, the public learner: ``IGLP(config).fit(frame)``.

Algorithm 1 of Maghakian et al. (ICLR 2023) in batch (off-policy) form, cross-fitted:

1. cut the ``ik_training_set`` rows into folds by user-time block (:mod:`~offline_rl.igl.folds`)
   and fit one inverse-kinematics classifier P_hat(a | x, y, A) per fold on the other folds,
   with importance weights w = 1/(K P(a|x)), early stopping and restarts judged on an inner
   validation slice of its own training folds (:mod:`~offline_rl.igl.crossfit`);
2. decode every row's reward with Eq. (4) (:mod:`~offline_rl.igl.decoder`) using the fold
   model that did **not** train on it (out of fold); with 3 states and ``alpha=None``,
   estimate alpha from the extreme events first (:mod:`~offline_rl.igl.alpha`);
3. fit the contextual-bandit policy on (x, a, r_hat) off-policy (:mod:`~offline_rl.igl.policy`).

Rows that were not in training (``decode``, ``ik_proba`` on new logs) are decoded by the mean
of the fold models' P_hat (a cross-fit ensemble, no extra training). :meth:`IGLP.fit_decode`
returns the out-of-fold decoded training rows (what ``decoded_rewards.parquet`` holds).

:meth:`IGLP.fit_online` runs the on-policy per-round loop of Algorithm 1 against a
simulator environment instead.

The learner never reads files and never sees the hidden reward: ``fit`` refuses a frame
that holds the ``reward`` column (:class:`~offline_rl.errors.HiddenRewardError`).
"""

from __future__ import annotations

import gc
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.artifacts import (
    load_artifact,
    load_table,
    prefixed,
    runtime_record,
    save_artifact,
    torch_threads,
)
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NoSignalWarning, NotFittedError
from offline_rl.igl.alpha import estimate_alpha
from offline_rl.igl.batch import (
    VOCABULARIES_TABLE,
    Batch,
    Vocabulary,
    action_feature_matrix,
    candidate_ids,
    check_frame,
    make_batch,
    vocabularies_frame,
    vocabularies_from_frame,
)
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.crossfit import fit_crossfit_ik
from offline_rl.igl.decoder import decode_rewards, definitely_negative
from offline_rl.igl.distributed import DataParallel, user_ranks
from offline_rl.igl.folds import crossfit_folds
from offline_rl.igl.ik_model import (
    IKEnsemble,
    IKTrainingRecord,
    ik_net,
    ik_probabilities,
)
from offline_rl.igl.policy import (
    POLICY_SEED_OFFSET,
    PolicyNet,
    exploration_probabilities,
    greedy_index,
    policy_net,
    policy_scores,
    train_policy_with,
)
from offline_rl.igl.warm_start import merged_vocabulary, transfer_parameters
from offline_rl.runtime import (
    ParquetRowGroups,
    World,
    all_gather_objects,
    current_world,
    gather_objects,
    resolve_device,
)

ARTIFACT_FORMAT = "offline_rl.igl.IGLP"
#: 3: cross-fitted IK models (an ensemble), users as population + shrunk deviations, alpha
#: recorded, vocabularies in ``vocabularies.parquet``. Earlier formats hold another IK model
#: and are refused with a message to refit.
ARTIFACT_VERSION = "3"
READABLE_VERSIONS = ("3",)

#: Columns of :meth:`IGLP.decode`'s output (plus ``event_id`` first when the input has it).
#: ``known_user`` / ``known_feedback``: whether the decoding model learnt from the row's
#: user (else it read the population representation) and signal (else P_hat = 1/K, r_hat = 0).
DECODED_COLUMNS = (
    "user_id",
    "feedback",
    "action",
    "num_candidates",
    "p_hat",
    "k_p_hat",
    "is_extreme",
    "definitely_negative",
    "decoded_reward",
    "known_user",
    "known_feedback",
)

_VOCABULARY_NAMES = ("users", "feedback", "actions")

logger = logging.getLogger(__name__)


def _training_weights(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``weight`` = 1/(K * propensity) when the frame lacks it (Algorithm 1, line 10)."""
    if "weight" in frame.columns:
        return frame
    if "propensity" not in frame.columns:
        raise ValueError(
            "IGLP.fit: unable to find column 'weight' (nor 'propensity' to compute it); "
            f"valid columns: {frame.columns}. Pass the ik_training_set frame."
        )
    k = pl.col("candidate_actions").list.len().cast(pl.Float64)
    return frame.with_columns((1.0 / (k * pl.col("propensity"))).alias("weight"))


def _decoded_arrays(probabilities: np.ndarray, batch: Batch, negative: np.ndarray, *,
                    alpha: float, threshold: float) -> dict[str, np.ndarray]:
    """Eq. (4) from P_hat(. | x, y, A): p_hat of the logged action, K p_hat, flags, r_hat."""
    p_hat = probabilities[np.arange(len(batch)), batch.action_index]
    k_p_hat = batch.num_candidates * p_hat
    return {
        "p_hat": p_hat,
        "k_p_hat": k_p_hat,
        "is_extreme": k_p_hat > threshold,
        "definitely_negative": negative,
        "decoded_reward": decode_rewards(k_p_hat, negative, alpha=alpha, threshold=threshold),
    }


def _negative(config: IGLPConfig, feedback: pl.Series) -> np.ndarray:
    return definitely_negative(feedback.cast(pl.String).to_numpy(), config.negative_signals)


def _own_rows(source: pl.DataFrame | ParquetRowGroups,
              world: World) -> tuple[pl.DataFrame, np.ndarray | None]:
    """This process's rows of ``source`` and their positions in it (None: all rows, in one
    process from a frame).

    A Parquet source is read one row group at a time: its ``user_id`` column first, then,
    in a process group, only the row groups that hold rows of this process's users, and only
    those rows are kept; the hidden reward is never read.
    """
    if not isinstance(source, ParquetRowGroups):
        if (not isinstance(source, pl.DataFrame) or not world.is_distributed
                or "user_id" not in source.columns):
            return source, None
        mine = user_ranks(source["user_id"], world.world_size) == world.rank
        return source.filter(pl.Series(mine)), np.flatnonzero(mine)
    everything = source.shard(0, 1)
    assert_no_hidden_reward(everything, learner="IGLP.fit")
    if "user_id" not in everything.columns:
        raise ValueError(f"IGLP.fit: {everything.paths[0]}: unable to find column 'user_id'; "
                         f"valid columns: {everything.columns}.")
    tables, positions, offset = [], [], 0
    for group in everything.groups:
        users = pl.from_arrow(everything.read(group, ["user_id"]))["user_id"]
        mine = user_ranks(users, world.world_size) == world.rank
        if mine.any():
            table = everything.read(group)
            tables.append(table if mine.all() else table.filter(mine))
            positions.append(offset + np.flatnonzero(mine))
        offset += group.rows
    if not tables:  # this process owns no user: an empty frame of the same columns
        tables = [everything.read(everything.groups[0]).slice(0, 0)]
    import pyarrow as pa

    frame = pl.from_arrow(pa.concat_tables(tables))
    return frame, (np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64))


def _raise_anywhere(parallel: DataParallel, error: Exception | None) -> None:
    """Raise ``error``, or the first process's error, on every process (instead of the
    others waiting at the next collective until the group times out)."""
    if not parallel.distributed:
        if error is not None:
            raise error
        return
    messages = all_gather_objects(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(rank, text) for rank, text in enumerate(messages) if text is not None]
    if failed:
        raise ValueError(f"rank {failed[0][0]} refused its rows: {failed[0][1]}")


def _fit_vocabulary(ids: pl.Series, parallel: DataParallel) -> Vocabulary:
    """The ids of every process's rows (sorted, as in one process)."""
    local = Vocabulary.fit(ids)
    if not parallel.distributed:
        return local
    parts = [part for part in all_gather_objects(local.ids) if len(part)]
    return Vocabulary.fit(pl.concat(parts)) if parts else local


def _agree_on_inputs(batch: Batch, parallel: DataParallel) -> Batch:
    """The same context width and the same kind of IK weights on every process: the logging
    distribution is used only when every process's rows carry it."""
    import dataclasses

    widths = {width for width, rows in all_gather_objects((batch.context.shape[1], len(batch))) if rows}
    if len(widths) > 1:
        raise ValueError(f"column 'context' has {sorted(widths)} features on different processes' "
                         "rows; it must have the same length on every row.")
    width = widths.pop() if widths else batch.context.shape[1]
    if batch.context.shape[1] != width:  # no rows here
        batch = dataclasses.replace(batch, context=np.zeros((0, width), dtype=np.float32))
    # a process without rows does not veto the logging distribution
    everyone = parallel.all(batch.log_prior is not None or len(batch) == 0)
    if batch.log_prior is not None and not everyone:
        batch = dataclasses.replace(batch, log_prior=None)
    return batch


def _owned_rows(users: Vocabulary, world: World) -> np.ndarray:
    """Per user vocabulary row (row 0, unknown, first), whether this process owns the user."""
    ranks = user_ranks(users.ids, world.world_size)
    return np.concatenate([[world.rank == 0], ranks == world.rank])


def _gather_in_order(decoded: pl.DataFrame, positions: np.ndarray,
                     parallel: DataParallel) -> pl.DataFrame:
    """Every process's decoded rows in the input's row order, on rank 0 (the one that writes
    them); another rank keeps only its own rows, so its memory stays its shard's."""
    parts = gather_objects((positions, decoded)) if parallel.distributed else [(positions, decoded)]
    if parts is None:
        return decoded
    order = np.argsort(np.concatenate([p for p, _ in parts]), kind="stable")
    return pl.concat([frame for _, frame in parts], how="vertical_relaxed")[order]


class IGLP:
    """Personalized interaction-grounded learning with 2 or 3 latent states.

    Parameters
    ----------
    config : IGLPConfig, optional
        Hyperparameters; ``IGLPConfig()`` (IGL-P(2)) when omitted.

    Attributes
    ----------
    ik_model_ : IKEnsemble
        The cross-fitted inverse-kinematics classifiers (one per fold).
    policy_model_ : PolicyNet
        The fitted reward regressor behind the policy.
    users_, feedback_vocabulary_, actions_ : Vocabulary
        Ids seen in training (others map to the "unknown" index 0).
    context_dim_ : int
    action_features_ : numpy.ndarray
        float32 (actions_.size, F) action features of the fit (row 0: unknown action).
    ik_restarts_ : list of IKTrainingRecord
        Every training attempt of every fold model (fold, seed, epochs, best epoch,
        inner-validation NLL and curve, whether it was kept).
    ik_held_out_nll_ : float or None
        Weighted NLL of every training row's logged action under the fold model that did not
        train on it (out of fold); None after ``fit_online``.
    ik_no_signal_nll_ : float or None
        The no-signal level on the same rows (the weighted mean log K, or the mean -log of
        the logged action's logging probability when the logs carry ``action_probs``,
        :func:`~offline_rl.igl.ik_model.no_signal_nll`): the decoded rewards mean
        nothing unless ``ik_held_out_nll_`` is clearly below it; None after ``fit_online``.
    ik_found_signal_ : bool or None
        Whether it is (``ESCAPE_MARGIN`` nats below); ``False`` also raises
        :class:`~offline_rl.errors.NoSignalWarning`. Never None after ``fit``; None after
        ``fit_online`` (no held-out rows there).
    alpha_ : float
        The negative labelling propensity used by Eq. (4): ``config.alpha`` when given, 1
        with 2 states, else estimated (see ``alpha_estimated_``).
    alpha_estimated_ : bool
        Whether ``alpha_`` was estimated from the logs (:mod:`offline_rl.igl.alpha`).
    policy_curve_ : list of float
        Training loss per policy epoch (after ``fit_online``: mean decoded reward per batch).
    n_rows_ : int
        Rows fitted (rounds played after ``fit_online``).
    warm_started_ : bool
        Whether ``fit`` started from a ``warm_start`` model.
    online_traces_ : dict of str to list of float, or None
        Per-batch traces of ``fit_online`` (decoded reward, latent reward, IK NLL); None
        after ``fit``.
    runtime_ : dict
        How the fit ran (:func:`offline_rl.artifacts.runtime_record`): device, CPU threads
        per process, number of processes and their backend; ``{}`` for an artifact saved
        before it was recorded.

    Every attribute above is assigned in one place, :meth:`_set_fitted`, which ``fit``,
    ``fit_online`` and ``load`` call with what they computed or read; ``save`` writes all of
    them and ``load`` restores all of them.

    References
    ----------
    Maghakian et al., "Personalized Reward Learning with Interaction-Grounded Learning",
    ICLR 2023, Algorithm 1, Eq. (2)-(4).
    """

    def __init__(self, config: IGLPConfig | None = None) -> None:
        self.config = config if config is not None else IGLPConfig()
        if not isinstance(self.config, IGLPConfig):
            raise ValueError(
                f"IGLP expects an IGLPConfig, got {type(self.config).__name__} instead."
            )

    # ------------------------------------------------------------------ fitted state
    def _set_fitted(
        self,
        *,
        users: Vocabulary,
        feedback_vocabulary: Vocabulary,
        actions: Vocabulary,
        context_dim: int,
        action_features: np.ndarray,
        ik_model: IKEnsemble,
        ik_restarts: list[IKTrainingRecord],
        ik_held_out_nll: float | None,
        ik_no_signal_nll: float | None,
        ik_found_signal: bool | None,
        alpha: float,
        alpha_estimated: bool,
        policy_model: PolicyNet,
        policy_curve: list[float],
        n_rows: int,
        warm_started: bool,
        online_traces: dict[str, list[float]] | None,
        runtime: dict[str, Any],
    ) -> None:
        """Assign every fitted attribute; the only place they are set (see the class docstring).

        Every argument is required, so a new attribute cannot be set by one path and
        forgotten by another.
        """
        self.users_ = users
        self.feedback_vocabulary_ = feedback_vocabulary
        self.actions_ = actions
        self.context_dim_ = int(context_dim)
        self.action_features_ = action_features
        self.ik_model_ = ik_model.eval()
        self.ik_restarts_ = list(ik_restarts)
        self.ik_held_out_nll_ = None if ik_held_out_nll is None else float(ik_held_out_nll)
        self.ik_no_signal_nll_ = None if ik_no_signal_nll is None else float(ik_no_signal_nll)
        self.ik_found_signal_ = None if ik_found_signal is None else bool(ik_found_signal)
        self.alpha_ = float(alpha)
        self.alpha_estimated_ = bool(alpha_estimated)
        self.policy_model_ = policy_model.eval()
        self.policy_curve_ = list(policy_curve)
        self.n_rows_ = int(n_rows)
        self.warm_started_ = bool(warm_started)
        self.online_traces_ = online_traces
        self.runtime_ = dict(runtime)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        frame: pl.DataFrame | ParquetRowGroups,
        *,
        actions: pl.DataFrame | None = None,
        warm_start: IGLP | None = None,
    ) -> IGLP:
        """Fit the cross-fitted IK models, decode out of fold and fit the policy.

        Parameters
        ----------
        frame : polars.DataFrame
            Rows of ``ik_training_set`` (see docs/data-contracts.md): ``user_id``, ``context``,
            ``feedback``, ``candidate_actions``, ``action_index`` (or ``action``) and
            ``weight`` (or ``propensity``), ordered by time; ``ts`` (optional) places rows in
            user-time blocks for the folds. Must not hold ``reward``. Or the
            :class:`~offline_rl.runtime.ParquetRowGroups` of such a table (see
            :meth:`fit_decode`: read row group by row group; under torchrun each process
            keeps its own users' rows).
        actions : polars.DataFrame, optional
            Action features (``action_id``, ``features``).
        warm_start : IGLP, optional
            A fitted model (e.g. last night's) to start from: fold model f's first attempt
            starts from its fold model f (:mod:`offline_rl.igl.warm_start`), without the
            warm-up; the policy from its policy. Its architecture settings must match. The
            signal check runs as on any fit.
        """
        self.fit_decode(frame, actions=actions, warm_start=warm_start)
        return self

    def fit_decode(
        self,
        frame: pl.DataFrame | ParquetRowGroups,
        *,
        actions: pl.DataFrame | None = None,
        warm_start: IGLP | None = None,
    ) -> pl.DataFrame:
        """:meth:`fit`, then return the training rows decoded **out of fold** (each by the IK
        model that did not train on it): the rewards the policy trained on, in
        :meth:`decode`'s columns. ``decode(frame)`` on the same rows would use the ensemble,
        most of whose members trained on them.

        ``frame`` may also be :class:`~offline_rl.runtime.ParquetRowGroups` of an
        ``ik_training_set`` Parquet, read one row group at a time (only the rows this process
        trains on are kept). In a process group started by torchrun (docs/scale.md) each
        process keeps the rows of its own users (:mod:`offline_rl.igl.distributed`; a frame is
        filtered the same way, so every process may be given the whole frame or its shard),
        the models are trained with DDP, and rank 0 returns the decoded rows of all
        processes, in the input's row order (another rank returns its own rows).
        """
        parallel = DataParallel.current()
        world = parallel.world
        frame, positions = _own_rows(frame, world)
        error = None
        try:
            check_frame(frame, ["user_id", "feedback", "candidate_actions"], where="IGLP.fit")
            assert_no_hidden_reward(frame, learner="IGLP.fit")
            if warm_start is not None:
                self._check_warm_start(warm_start)
            frame = _training_weights(frame)
        except ValueError as caught:
            error = caught
        _raise_anywhere(parallel, error)
        rows = parallel.rows(frame.height)
        if rows < 2:
            raise ValueError(f"IGLP.fit needs at least 2 rows; got {rows}.")
        cfg = self.config
        device = resolve_device(cfg.device, local_rank=world.local_rank)
        with torch_threads(cfg.max_threads) as threads:
            users = _fit_vocabulary(frame["user_id"], parallel)
            feedback = _fit_vocabulary(frame["feedback"], parallel)
            action_ids = _fit_vocabulary(frame["candidate_actions"].explode(), parallel)
            if warm_start is not None:
                users = merged_vocabulary(warm_start.users_, users)
                feedback = merged_vocabulary(warm_start.feedback_vocabulary_, feedback)
                action_ids = merged_vocabulary(warm_start.actions_, action_ids)
            vocabularies = {"users": users, "feedback": feedback, "actions": action_ids}
            batch = make_batch(frame, users=users, feedback=feedback, actions=action_ids,
                               where="IGLP.fit")
            if parallel.distributed:
                batch = _agree_on_inputs(batch, parallel)
            owned_users = _owned_rows(users, world)
            context_dim = int(batch.context.shape[1])
            action_features = action_feature_matrix(actions, action_ids)
            if warm_start is not None and context_dim != warm_start.context_dim_:
                raise ValueError(
                    f"warm_start was fitted on {warm_start.context_dim_} context features, "
                    f"these logs have {context_dim}; start fresh instead."
                )
            sizes = {"num_users": users.size, "num_actions": action_ids.size,
                     "context_dim": context_dim, "action_features": action_features}
            folds = crossfit_folds(frame, n_folds=cfg.crossfit_folds, seed=cfg.seed,
                                   block_seconds=cfg.crossfit_block_seconds)
            warm_ik = None
            if warm_start is not None:
                old_members = warm_start.ik_model_.members
                old_vocabularies = warm_start._vocabularies()

                def warm_ik(net, fold):
                    transfer_parameters(net, old_members[fold % len(old_members)],
                                        old_vocabularies=old_vocabularies,
                                        new_vocabularies=vocabularies)

            ik = fit_crossfit_ik(
                cfg, batch, folds,
                lambda: ik_net(cfg, **sizes, num_feedback=feedback.size),
                warm_start=warm_ik, device=device, parallel=parallel, owned_users=owned_users,
            )
            logger.info("IGL-P: out-of-fold IK NLL %.4f, no-signal %.4f, %d attempts over %d folds",
                        ik.held_out_nll, ik.no_signal_nll, len(ik.records), folds.n_folds)
            if not ik.found_signal:
                warnings.warn(NoSignalWarning(
                    f"IGL-P: the IK model found no signal: out-of-fold held-out weighted NLL "
                    f"{ik.held_out_nll:.4f} is not below the no-signal level "
                    f"{ik.no_signal_nll:.4f} ({_no_signal_words(batch)}); the decoded rewards carry "
                    f"no information. Try more data, more ik_restarts or a simpler model "
                    f"(smaller embedding_dim, larger user_prior_precision)."), stacklevel=3)
            negative = _negative(cfg, frame["feedback"])
            extreme = batch.num_candidates * ik.out_of_fold[
                np.arange(len(batch)), batch.action_index] > cfg.threshold
            alpha, estimated = self._alpha(batch, extreme, negative, folds, sizes, device,
                                           parallel, owned_users)
            decoded = _decoded_arrays(ik.out_of_fold, batch, negative, alpha=alpha,
                                      threshold=cfg.threshold)
            # built before the policy seed is set, so its initial weights follow from the
            # seeded IK attempts; seeding first (as RewardBandit does) would change every model
            policy = policy_net(cfg, **sizes)
            if warm_start is not None:
                transfer_parameters(
                    policy, warm_start.policy_model_,
                    old_vocabularies=warm_start._vocabularies(), new_vocabularies=vocabularies,
                )
            torch.manual_seed(cfg.seed + POLICY_SEED_OFFSET)
            policy_curve = train_policy_with(cfg, policy, batch, decoded["decoded_reward"],
                                             device=device, parallel=parallel,
                                             owned_users=owned_users)
        self._set_fitted(
            users=users, feedback_vocabulary=feedback, actions=action_ids,
            context_dim=context_dim, action_features=action_features,
            ik_model=ik.ensemble, ik_restarts=ik.records, ik_held_out_nll=ik.held_out_nll,
            ik_no_signal_nll=ik.no_signal_nll, ik_found_signal=ik.found_signal,
            alpha=alpha, alpha_estimated=estimated,
            policy_model=policy, policy_curve=policy_curve, n_rows=rows,
            warm_started=warm_start is not None, online_traces=None,
            runtime=runtime_record(device=device, threads=threads, world_size=world.world_size,
                                   backend=world.backend),
        )
        out = self._decoded_frame(frame, batch, decoded, ik.known_user, ik.known_feedback)
        if positions is None:
            return out
        if parallel.distributed:
            # The DDP wrappers of the finished models hold the process group through reference
            # cycles: free them now, while the group exists, not at interpreter exit (a 2-process
            # benchmark run once aborted with "terminate called without an active exception").
            gc.collect()
        return _gather_in_order(out, positions, parallel)

    def _alpha(self, batch: Batch, extreme: np.ndarray, negative: np.ndarray, folds,
               sizes: dict[str, Any], device: torch.device, parallel: DataParallel,
               owned_users: np.ndarray) -> tuple[float, bool]:
        """(alpha for Eq. 4, whether it was estimated): see ``IGLPConfig.alpha``."""
        cfg = self.config
        if cfg.alpha is not None:
            return cfg.alpha, False
        if cfg.states == 2:
            return 1.0, False
        estimate = estimate_alpha(cfg, batch, extreme, negative, folds,
                                  lambda: policy_net(cfg, **sizes), device=device,
                                  parallel=parallel, owned_users=owned_users)
        logger.info("IGL-P: alpha %.4g estimated from %d labelled of %d extreme events (raw %.4g)",
                    estimate.alpha, estimate.labelled_rows, estimate.extreme_rows, estimate.raw)
        return estimate.alpha, True

    def fit_online(
        self,
        env,
        *,
        rounds: int,
        batch_rounds: int = 500,
        steps_per_batch: int = 4,
        seed: int = 0,
    ) -> IGLP:
        """On-policy IGL-P against a simulator environment (Algorithm 1's on-policy branch).

        ``env`` follows the simulator API (``sample_rounds``, ``latent_reward``,
        ``feedback``, ``vocabulary``); the latent reward only feeds the environment's own
        feedback draw. Per-batch traces land in ``online_traces_``. With 3 states, alpha must
        be given (there is no held-out set to estimate it from).
        """
        from offline_rl.igl.online import fit_online

        cfg = self.config
        if cfg.states == 3 and cfg.alpha is None:
            raise ValueError("IGLP.fit_online with 3 states needs an explicit alpha "
                             "(IGLPConfig(alpha=...)); it is estimated only by fit.")
        alpha = 1.0 if cfg.alpha is None else cfg.alpha
        device = resolve_device(cfg.device, local_rank=current_world().local_rank)
        with torch_threads(cfg.max_threads) as threads:
            run = fit_online(
                cfg, env, rounds=rounds, batch_rounds=batch_rounds,
                steps_per_batch=steps_per_batch, seed=seed, alpha=alpha, device=device,
            )
        self._set_fitted(
            users=run.users, feedback_vocabulary=run.feedback, actions=run.actions,
            context_dim=run.context_dim, action_features=run.action_features,
            ik_model=IKEnsemble([run.ik_model]), ik_restarts=[], ik_held_out_nll=None,
            ik_no_signal_nll=None, ik_found_signal=None, alpha=alpha, alpha_estimated=False,
            policy_model=run.policy_model, policy_curve=run.traces["decoded_reward"],
            n_rows=rounds, warm_started=False, online_traces=run.traces,
            runtime=runtime_record(device=device, threads=threads, world_size=1, backend=None),
        )
        return self

    def _vocabularies(self) -> dict[str, Vocabulary]:
        return {"users": self.users_, "feedback": self.feedback_vocabulary_, "actions": self.actions_}

    def _check_warm_start(self, warm_start: IGLP) -> None:
        if not isinstance(warm_start, IGLP):
            raise ValueError(f"warm_start must be a fitted IGLP; got {type(warm_start).__name__}.")
        warm_start._check_fitted()
        fields = ("states", "embedding_dim", "action_dim", "hidden_dim", "context_interaction", "policy_user_dim")
        different = [
            f"{name} {getattr(warm_start.config, name)!r} -> {getattr(self.config, name)!r}"
            for name in fields
            if getattr(warm_start.config, name) != getattr(self.config, name)
        ]
        if different:
            raise ValueError(
                "warm_start has another architecture (" + ", ".join(different) + "); start fresh instead."
            )

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "ik_model_"):
            raise NotFittedError(
                "This IGLP instance is not fitted yet. Call 'fit' with an ik_training_set "
                "frame before using this method."
            )

    def _batch(self, frame: pl.DataFrame, *, need_feedback: bool, need_action: bool,
               where: str) -> Batch:
        return make_batch(
            frame,
            users=self.users_,
            feedback=self.feedback_vocabulary_,
            actions=self.actions_,
            context_dim=self.context_dim_,
            need_feedback=need_feedback,
            need_action=need_action,
            where=where,
        )

    def ik_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """P_hat(. | x, y, A) over each row's candidates, float64 (n, K_max), 0 in padding:
        the mean of the fold models' P_hat (every row is treated as new)."""
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = self._batch(frame, need_feedback=True, need_action=False,
                                where="IGLP.ik_proba")
            return ik_probabilities(self.ik_model_, batch)

    def decode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Eq. (4) on every row with the cross-fit ensemble (rows not seen in training):
        K * P_hat of the logged action, extreme flag, decoded reward.

        Returns a polars frame with ``event_id`` (when present) and :data:`DECODED_COLUMNS`.
        For the training rows, use :meth:`fit_decode` (out of fold) instead.
        """
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = self._batch(frame, need_feedback=True, need_action=True, where="IGLP.decode")
            probabilities = ik_probabilities(self.ik_model_, batch)
        decoded = _decoded_arrays(probabilities, batch, _negative(self.config, frame["feedback"]),
                                  alpha=self.alpha_, threshold=self.config.threshold)
        members = self.ik_model_.members
        known_user = np.logical_or.reduce([m.known_user.cpu().numpy() for m in members])
        known_feedback = np.logical_or.reduce([m.known_feedback.cpu().numpy() for m in members])
        return self._decoded_frame(frame, batch, decoded, known_user[batch.user],
                                   known_feedback[batch.feedback])

    @staticmethod
    def _decoded_frame(frame: pl.DataFrame, batch: Batch, decoded: dict[str, np.ndarray],
                       known_user: np.ndarray, known_feedback: np.ndarray) -> pl.DataFrame:
        raw_action = (
            frame["action"].cast(pl.Int64)
            if "action" in frame.columns
            else pl.Series(candidate_ids(frame, batch.action_index), dtype=pl.Int64)
        )
        columns: dict[str, Any] = {}
        if "event_id" in frame.columns:
            columns["event_id"] = frame["event_id"]
        columns.update(
            {
                "user_id": frame["user_id"],
                "feedback": frame["feedback"].cast(pl.String),
                "action": raw_action,
                "num_candidates": pl.Series(batch.num_candidates, dtype=pl.Int64),
                "p_hat": pl.Series(decoded["p_hat"], dtype=pl.Float64),
                "k_p_hat": pl.Series(decoded["k_p_hat"], dtype=pl.Float64),
                "is_extreme": pl.Series(decoded["is_extreme"], dtype=pl.Boolean),
                "definitely_negative": pl.Series(decoded["definitely_negative"], dtype=pl.Boolean),
                "decoded_reward": pl.Series(decoded["decoded_reward"], dtype=pl.Float64),
                "known_user": pl.Series(known_user, dtype=pl.Boolean),
                "known_feedback": pl.Series(known_feedback, dtype=pl.Boolean),
            }
        )
        return pl.DataFrame(columns)

    def _policy_scores(self, frame: pl.DataFrame, where: str) -> tuple[np.ndarray, Batch]:
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = self._batch(frame, need_feedback=False, need_action=False, where=where)
            return policy_scores(self.policy_model_, batch), batch

    def predict_scores(self, frame: pl.DataFrame) -> np.ndarray:
        """The policy's reward estimates f(x, a) over candidates, (n, K_max), -inf in padding."""
        scores, batch = self._policy_scores(frame, "IGLP.predict_scores")
        return np.where(batch.mask, scores, -np.inf)

    def predict_proba(self, frame: pl.DataFrame, *, exploration: str | None = None) -> np.ndarray:
        """P(. | x) over each row's ``candidate_actions``: float64 (n, K_max), rows sum to 1.

        Needs ``user_id``, ``context`` and ``candidate_actions`` only (no feedback: this is
        the policy). ``exploration`` overrides the configured rule ('greedy' for evaluation).
        """
        scores, batch = self._policy_scores(frame, "IGLP.predict_proba")
        cfg = self.config
        return exploration_probabilities(
            scores, batch.mask, rule=exploration or cfg.exploration, epsilon=cfg.epsilon,
            gamma=cfg.gamma,
        )

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """The greedy action id per row (int64 (n,))."""
        scores, batch = self._policy_scores(frame, "IGLP.predict")
        return candidate_ids(frame, greedy_index(scores, batch.mask))

    # ------------------------------------------------------------------ representations
    def user_embeddings(self, fold: int = 0) -> tuple[list[Any], np.ndarray]:
        """(user ids, E-dimensional user representations e(u) = population + deviation) of
        fold model ``fold``. The fold models are trained separately, so their spaces are not
        aligned (a rotation or reflection apart): read one model at a time."""
        self._check_fitted()
        table = self.ik_model_.members[fold].users.table().cpu().numpy()[1:]
        return self.users_.to_list(), table.copy()

    def feedback_embeddings(self, fold: int = 0) -> tuple[list[Any], np.ndarray]:
        """(feedback signals, E-dimensional feedback embeddings) of fold model ``fold``."""
        self._check_fitted()
        weight = self.ik_model_.members[fold].feedback_embedding.weight.detach().cpu().numpy()[1:]
        return self.feedback_vocabulary_.to_list(), weight.copy()

    def decoder_logits(self, fold: int = 0) -> np.ndarray:
        """Latent-state logits W (e(u) * e_y) + b of fold model ``fold`` for every (user,
        feedback) pair seen in fit.

        Shape (n_users, n_feedback, S): the learned per-user reading of each signal (without
        the context term), the "per-user representation" that clusters users by convention.
        States are unlabelled and their order may differ between fold models.
        """
        self._check_fitted()
        with torch.no_grad():
            net = self.ik_model_.members[fold]
            eu = net.users.table()[1:]
            ew = net.feedback_embedding.weight[1:]
            q = eu[:, None, :] * ew[None, :, :]
            return net.decoder(q).cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (state_dicts), ``config.json``, ``vocabularies.parquet`` and
        ``manifest.json`` atomically.

        ``model.pt`` holds both networks (their buffers carry the context standardisation,
        ``action_features_`` and which users and signals each fold model learnt from);
        ``vocabularies.parquet`` the user, feedback and action ids; ``config.json`` every
        other fitted attribute.
        """
        self._check_fitted()
        # CPU copies: the artifact is the same whichever device trained it, and loads anywhere
        state = {f"ik.{k}": v.cpu() for k, v in self.ik_model_.state_dict().items()}
        state.update({f"policy.{k}": v.cpu() for k, v in self.policy_model_.state_dict().items()})
        fitted = {
            "context_dim": self.context_dim_,
            "n_rows": self.n_rows_,
            "ik_folds": len(self.ik_model_.members),
            "ik_restarts": [r.to_dict() for r in self.ik_restarts_],
            "ik_held_out_nll": self.ik_held_out_nll_,
            "ik_no_signal_nll": self.ik_no_signal_nll_,
            "ik_found_signal": self.ik_found_signal_,
            "alpha": self.alpha_,
            "alpha_estimated": self.alpha_estimated_,
            "policy_curve": list(self.policy_curve_),
            "warm_started": self.warm_started_,
            "online_traces": self.online_traces_,
            "runtime": self.runtime_,
        }
        return save_artifact(
            directory,
            artifact_format=ARTIFACT_FORMAT,
            version=ARTIFACT_VERSION,
            state=state,
            config=self.config.to_dict(),
            fitted=fitted,
            manifest={"seed": self.config.seed, "rows": self.n_rows_},
            tables={VOCABULARIES_TABLE: vocabularies_frame(self._vocabularies())},
            runtime=self.runtime_ or None,
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str | None = None) -> IGLP:
        """Rebuild a fitted learner from :meth:`save`'s folder (``weights_only=True``).

        The models run on ``device`` ('auto', 'cpu' or 'cuda'), by default the saved config's.
        """
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="IGLP",
                                        versions=READABLE_VERSIONS)
        config = IGLPConfig.from_dict(document["config"])
        learner = cls(config if device is None else config.replace(device=device))
        fitted = document["fitted"]
        vocabularies = vocabularies_from_frame(
            load_table(directory, VOCABULARIES_TABLE, artifact="IGLP"), _VOCABULARY_NAMES)
        users, feedback, actions = (vocabularies[name] for name in _VOCABULARY_NAMES)
        context_dim = int(fitted["context_dim"])
        action_features = state["ik.members.0.actions.features"].numpy().copy()
        sizes = {"num_users": users.size, "num_actions": actions.size,
                 "context_dim": context_dim, "action_features": action_features}
        ik_model = IKEnsemble([ik_net(learner.config, **sizes, num_feedback=feedback.size)
                               for _ in range(int(fitted["ik_folds"]))])
        ik_model.load_state_dict(prefixed(state, "ik."))
        policy = policy_net(learner.config, **sizes)
        policy.load_state_dict(prefixed(state, "policy."))
        target = resolve_device(learner.config.device, local_rank=current_world().local_rank)
        ik_model.to(target)
        policy.to(target)
        learner._set_fitted(
            users=users, feedback_vocabulary=feedback, actions=actions,
            context_dim=context_dim, action_features=action_features,
            ik_model=ik_model,
            ik_restarts=[IKTrainingRecord.from_dict(r) for r in fitted["ik_restarts"]],
            ik_held_out_nll=fitted["ik_held_out_nll"],
            ik_no_signal_nll=fitted["ik_no_signal_nll"],
            ik_found_signal=fitted["ik_found_signal"],
            alpha=fitted["alpha"], alpha_estimated=fitted["alpha_estimated"],
            policy_model=policy, policy_curve=fitted["policy_curve"],
            n_rows=int(fitted["n_rows"]), warm_started=fitted["warm_started"],
            online_traces=fitted["online_traces"], runtime=fitted.get("runtime") or {},
        )
        return learner


def _no_signal_words(batch) -> str:
    """How the no-signal level was computed, for messages."""
    if batch.log_prior is not None:
        return "mean -log of the logging probability of the logged action"
    return "weighted mean log K"

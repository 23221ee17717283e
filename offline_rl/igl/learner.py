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
        The no-signal level on the same rows (weighted mean log K): the decoded rewards mean
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

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        frame: pl.DataFrame,
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
            user-time blocks for the folds. Must not hold ``reward``.
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
        frame: pl.DataFrame,
        *,
        actions: pl.DataFrame | None = None,
        warm_start: IGLP | None = None,
    ) -> pl.DataFrame:
        """:meth:`fit`, then return the training rows decoded **out of fold** (each by the IK
        model that did not train on it): the rewards the policy trained on, in
        :meth:`decode`'s columns. ``decode(frame)`` on the same rows would use the ensemble,
        most of whose members trained on them."""
        check_frame(frame, ["user_id", "feedback", "candidate_actions"], where="IGLP.fit")
        assert_no_hidden_reward(frame, learner="IGLP.fit")
        if frame.height < 2:
            raise ValueError(f"IGLP.fit needs at least 2 rows; got {frame.height}.")
        if warm_start is not None:
            self._check_warm_start(warm_start)
        frame = _training_weights(frame)
        cfg = self.config
        with torch_threads(cfg.max_threads):
            users = Vocabulary.fit(frame["user_id"])
            feedback = Vocabulary.fit(frame["feedback"])
            action_ids = Vocabulary.fit(frame["candidate_actions"].explode())
            if warm_start is not None:
                users = merged_vocabulary(warm_start.users_, users)
                feedback = merged_vocabulary(warm_start.feedback_vocabulary_, feedback)
                action_ids = merged_vocabulary(warm_start.actions_, action_ids)
            vocabularies = {"users": users, "feedback": feedback, "actions": action_ids}
            batch = make_batch(frame, users=users, feedback=feedback, actions=action_ids,
                               where="IGLP.fit")
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
                warm_start=warm_ik,
            )
            logger.info("IGL-P: out-of-fold IK NLL %.4f, no-signal %.4f, %d attempts over %d folds",
                        ik.held_out_nll, ik.no_signal_nll, len(ik.records), folds.n_folds)
            if not ik.found_signal:
                warnings.warn(NoSignalWarning(
                    f"IGL-P: the IK model found no signal: out-of-fold held-out weighted NLL "
                    f"{ik.held_out_nll:.4f} is not below the no-signal level "
                    f"{ik.no_signal_nll:.4f} (weighted mean log K); the decoded rewards carry "
                    f"no information. Try more data, more ik_restarts or a simpler model "
                    f"(smaller embedding_dim, larger user_prior_precision)."), stacklevel=3)
            negative = _negative(cfg, frame["feedback"])
            extreme = batch.num_candidates * ik.out_of_fold[
                np.arange(len(batch)), batch.action_index] > cfg.threshold
            alpha, estimated = self._alpha(batch, extreme, negative, folds, sizes)
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
            policy_curve = train_policy_with(cfg, policy, batch, decoded["decoded_reward"])
        self._set_fitted(
            users=users, feedback_vocabulary=feedback, actions=action_ids,
            context_dim=context_dim, action_features=action_features,
            ik_model=ik.ensemble, ik_restarts=ik.records, ik_held_out_nll=ik.held_out_nll,
            ik_no_signal_nll=ik.no_signal_nll, ik_found_signal=ik.found_signal,
            alpha=alpha, alpha_estimated=estimated,
            policy_model=policy, policy_curve=policy_curve, n_rows=len(batch),
            warm_started=warm_start is not None, online_traces=None,
        )
        return self._decoded_frame(frame, batch, decoded, ik.known_user, ik.known_feedback)

    def _alpha(self, batch: Batch, extreme: np.ndarray, negative: np.ndarray, folds,
               sizes: dict[str, Any]) -> tuple[float, bool]:
        """(alpha for Eq. 4, whether it was estimated): see ``IGLPConfig.alpha``."""
        cfg = self.config
        if cfg.alpha is not None:
            return cfg.alpha, False
        if cfg.states == 2:
            return 1.0, False
        estimate = estimate_alpha(cfg, batch, extreme, negative, folds,
                                  lambda: policy_net(cfg, **sizes))
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
        with torch_threads(cfg.max_threads):
            run = fit_online(
                cfg, env, rounds=rounds, batch_rounds=batch_rounds,
                steps_per_batch=steps_per_batch, seed=seed, alpha=alpha,
            )
        self._set_fitted(
            users=run.users, feedback_vocabulary=run.feedback, actions=run.actions,
            context_dim=run.context_dim, action_features=run.action_features,
            ik_model=IKEnsemble([run.ik_model]), ik_restarts=[], ik_held_out_nll=None,
            ik_no_signal_nll=None, ik_found_signal=None, alpha=alpha, alpha_estimated=False,
            policy_model=run.policy_model, policy_curve=run.traces["decoded_reward"],
            n_rows=rounds, warm_started=False, online_traces=run.traces,
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
        state = {f"ik.{k}": v for k, v in self.ik_model_.state_dict().items()}
        state.update({f"policy.{k}": v for k, v in self.policy_model_.state_dict().items()})
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
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> IGLP:
        """Rebuild a fitted learner from :meth:`save`'s folder (``weights_only=True``)."""
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="IGLP",
                                        versions=READABLE_VERSIONS)
        learner = cls(IGLPConfig.from_dict(document["config"]))
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
            online_traces=fitted["online_traces"],
        )
        return learner

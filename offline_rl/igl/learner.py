"""IGL-P, the public learner: ``IGLP(config).fit(frame)``.

Algorithm 1 of Maghakian et al. (ICLR 2023) in batch (off-policy) form:

1. fit the inverse-kinematics classifier P_hat(a | x, y, A) on the ``ik_training_set`` rows
   with importance weights w = 1/(K P(a|x)) (``ik_model``), keeping the best of several
   restarts by held-out weighted log-likelihood;
2. decode every row's reward with Eq. (4) (``decoder``);
3. fit the contextual-bandit policy on (x, a, r_hat) off-policy (``policy``).

:meth:`IGLP.fit_online` runs the on-policy per-round loop of Algorithm 1 against a
simulator environment instead.

The learner never reads files and never sees the hidden reward: ``fit`` refuses a frame
that holds the ``reward`` column (:class:`~offline_rl.errors.HiddenRewardError`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.artifacts import load_artifact, prefixed, save_artifact, torch_threads
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NoSignalWarning, NotFittedError
from offline_rl.igl.batch import (
    Batch,
    Vocabulary,
    action_feature_matrix,
    candidate_ids,
    check_frame,
    make_batch,
)
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.decoder import decode_rewards, definitely_negative
from offline_rl.igl.ik_model import (
    IKNet,
    IKTrainer,
    IKTrainingRecord,
    context_moments,
    ik_net,
    ik_probabilities,
    left_no_signal,
    no_signal_nll,
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
#: 2 records ``warm_started``, ``ik_no_signal_nll``, ``ik_found_signal`` and
#: ``online_traces``; :meth:`IGLP.load` reads format 1 too (those attributes are then None).
ARTIFACT_VERSION = "2"
READABLE_VERSIONS = ("1", "2")

#: Columns of :meth:`IGLP.decode`'s output (plus ``event_id`` first when the input has it).
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
)


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


@dataclass(frozen=True, eq=False)
class _IKFit:
    """The kept IK model of :meth:`IGLP._fit_ik`, every restart's record, and the signal check."""

    net: IKNet
    restarts: list[IKTrainingRecord]
    best: int
    no_signal_nll: float | None
    found_signal: bool | None


def _decoded_arrays(config: IGLPConfig, ik_model: IKNet, batch: Batch,
                    feedback: pl.Series) -> dict[str, np.ndarray]:
    """Eq. (4) on every row of ``batch`` with ``ik_model``: p_hat, K p_hat, flags, r_hat."""
    probs = ik_probabilities(ik_model, batch)
    p_hat = probs[np.arange(len(batch)), batch.action_index]
    k_p_hat = batch.num_candidates * p_hat
    negative = definitely_negative(feedback.cast(pl.String).to_numpy(), config.negative_signals)
    reward = decode_rewards(k_p_hat, negative, alpha=config.alpha, threshold=config.threshold)
    return {
        "p_hat": p_hat,
        "k_p_hat": k_p_hat,
        "is_extreme": k_p_hat > config.threshold,
        "definitely_negative": negative,
        "decoded_reward": reward,
    }


class IGLP:
    """Personalized interaction-grounded learning with 2 or 3 latent states.

    Parameters
    ----------
    config : IGLPConfig, optional
        Hyperparameters; ``IGLPConfig()`` (IGL-P(2)) when omitted.

    Attributes
    ----------
    ik_model_ : IKNet
        The fitted inverse-kinematics classifier.
    policy_model_ : PolicyNet
        The fitted reward regressor behind the policy.
    users_, feedback_vocabulary_, actions_ : Vocabulary
        Ids seen in training (others map to an "unknown" embedding).
    context_dim_ : int
    action_features_ : numpy.ndarray
        float32 (actions_.size, F) action features of the fit (row 0: unknown action).
    ik_restarts_ : list of IKTrainingRecord
        Every restart's seed and held-out weighted IK NLL; ``best_restart_`` is the kept one.
    best_restart_ : int
    ik_no_signal_nll_ : float or None
        The held-out weighted NLL of the no-signal model (weighted mean log K), the level the
        kept restart must beat for the decoded rewards to mean anything; None without a
        held-out split (one restart, or a warm start) and after ``fit_online``.
    ik_found_signal_ : bool or None
        Whether the kept restart's held-out NLL is clearly below that level (``False`` also
        raises :class:`~offline_rl.errors.NoSignalWarning`); None without a held-out split.
    policy_curve_ : list of float
        Training loss per policy epoch (after ``fit_online``: mean decoded reward per batch).
    n_rows_ : int
        Rows fitted (rounds played after ``fit_online``).
    warm_started_ : bool or None
        Whether ``fit`` started from a ``warm_start`` model (None when loaded from a format-1
        artifact, which did not record it).
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
        ik_model: IKNet,
        ik_restarts: list[IKTrainingRecord],
        best_restart: int,
        ik_no_signal_nll: float | None,
        ik_found_signal: bool | None,
        policy_model: PolicyNet,
        policy_curve: list[float],
        n_rows: int,
        warm_started: bool | None,
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
        self.best_restart_ = int(best_restart)
        self.ik_no_signal_nll_ = ik_no_signal_nll
        self.ik_found_signal_ = ik_found_signal
        self.policy_model_ = policy_model.eval()
        self.policy_curve_ = list(policy_curve)
        self.n_rows_ = int(n_rows)
        self.warm_started_ = warm_started
        self.online_traces_ = online_traces

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        frame: pl.DataFrame,
        *,
        actions: pl.DataFrame | None = None,
        warm_start: IGLP | None = None,
    ) -> IGLP:
        """Fit the IK model, decode rewards and fit the policy on an ``ik_training_set`` frame.

        Parameters
        ----------
        frame : polars.DataFrame
            Rows of ``ik_training_set`` (see docs/data-contracts.md): ``user_id``, ``context``,
            ``feedback``, ``candidate_actions``, ``action_index`` (or ``action``) and
            ``weight`` (or ``propensity``), ordered by time. Must not hold ``reward``.
        actions : polars.DataFrame, optional
            Action features (``action_id``, ``features``).
        warm_start : IGLP, optional
            A fitted model (e.g. last night's) to start from: its parameters seed both
            networks (see :mod:`offline_rl.igl.warm_start`), and the IK model is trained once
            from there, without warm-up or restarts. Its architecture settings must match.
        """
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
            ik = self._fit_ik(batch, {**sizes, "num_feedback": feedback.size}, vocabularies,
                              warm_start)
            decoded = _decoded_arrays(cfg, ik.net, batch, frame["feedback"])
            # built before the policy seed is set, so its initial weights follow from the
            # seeded IK restarts; seeding first (as RewardBandit does) would change every model
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
            ik_model=ik.net, ik_restarts=ik.restarts, best_restart=ik.best,
            ik_no_signal_nll=ik.no_signal_nll, ik_found_signal=ik.found_signal,
            policy_model=policy, policy_curve=policy_curve, n_rows=len(batch),
            warm_started=warm_start is not None, online_traces=None,
        )
        return self

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
        feedback draw. Per-batch traces land in ``online_traces_``.
        """
        from offline_rl.igl.online import fit_online

        with torch_threads(self.config.max_threads):
            run = fit_online(
                self.config, env, rounds=rounds, batch_rounds=batch_rounds,
                steps_per_batch=steps_per_batch, seed=seed,
            )
        self._set_fitted(
            users=run.users, feedback_vocabulary=run.feedback, actions=run.actions,
            context_dim=run.context_dim, action_features=run.action_features,
            ik_model=run.ik_model, ik_restarts=[], best_restart=0,
            ik_no_signal_nll=None, ik_found_signal=None,
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

    def _fit_ik(
        self,
        batch: Batch,
        sizes: dict[str, Any],
        vocabularies: dict[str, Vocabulary],
        warm_start: IGLP | None = None,
    ) -> _IKFit:
        """Train ``ik_restarts`` IK models; keep the best held-out weighted log-likelihood.

        The held-out rows are the latest ``validation_fraction`` of the frame (it is ordered
        by time). Selecting on the IK likelihood needs no reward, so this is legitimate
        model selection, not seed picking against the truth. With ``ik_race_epochs`` the
        restarts race: each trains that many epochs and only the best continues. A warm start
        trains one model, from ``warm_start``'s parameters, without the action-only warm-up.
        ``sizes`` are :func:`~offline_rl.igl.ik_model.ik_net`'s keyword arguments.
        """
        cfg = self.config
        restarts = 1 if warm_start is not None else cfg.ik_restarts
        n = len(batch)
        n_val = int(round(cfg.validation_fraction * n)) if restarts > 1 else 0
        n_val = min(n_val, n - 1)
        train = batch.take(slice(0, n - n_val)) if n_val else batch
        validation = batch.take(slice(n - n_val, n)) if n_val else None
        warmup = 0 if warm_start is not None else cfg.ik_warmup_epochs
        scaling = (context_moments(train.context)
                   if train.context.shape[0] and train.context.shape[1] else None)
        trainers: list[IKTrainer] = []
        for restart in range(restarts):
            seed = cfg.seed * 1000 + restart
            torch.manual_seed(seed)
            net = ik_net(cfg, **sizes)
            if warm_start is not None:
                transfer_parameters(
                    net, warm_start.ik_model_,
                    old_vocabularies=warm_start._vocabularies(), new_vocabularies=vocabularies,
                )
            trainers.append(IKTrainer(
                net, train, batch_size=cfg.ik_batch_size, learning_rate=cfg.ik_learning_rate,
                weight_decay=cfg.ik_weight_decay, seed=seed, validation=validation,
                warmup_epochs=warmup, context_scaling=scaling,
            ))
        # the level a useful IK model must beat, on the rows its NLL is measured on
        no_signal = no_signal_nll(validation if validation is not None else train)
        racing = restarts > 1 and cfg.ik_race_epochs > 0
        for trainer in trainers:
            trainer.run(cfg.ik_race_epochs if racing else cfg.ik_epochs)
        held_out = [trainer.held_out_nll() for trainer in trainers]
        if racing:
            # the race is extended, one epoch at a time, while every restart still sits at
            # the no-signal point: picking among stuck restarts would keep a stuck one
            epochs_run = cfg.ik_race_epochs
            while not left_no_signal(min(held_out), no_signal) and epochs_run < cfg.ik_epochs:
                for trainer in trainers:
                    trainer.run(1)
                held_out = [trainer.held_out_nll() for trainer in trainers]
                epochs_run += 1
            leader = int(np.argmin(held_out))
            if epochs_run < cfg.ik_epochs:
                trainers[leader].run(cfg.ik_epochs - epochs_run)
                held_out[leader] = trainers[leader].held_out_nll()
        best = int(np.argmin(held_out))
        # judged on held-out rows only: a training NLL below log K can be overfitting
        found_signal = left_no_signal(held_out[best], no_signal) if validation is not None else None
        if found_signal is False:
            warnings.warn(NoSignalWarning(
                f"IGL-P: no IK restart left the no-signal point (best held-out weighted NLL "
                f"{held_out[best]:.4f}, no-signal {no_signal:.4f} = weighted mean log K); "
                f"the decoded rewards carry no information. Try more ik_restarts, "
                f"ik_epochs or data."), stacklevel=3)
        records = [
            IKTrainingRecord(restart, cfg.seed * 1000 + restart, trainer.epoch_loss,
                             held_out[restart], trainer.epochs_run, tuple(trainer.curve))
            for restart, trainer in enumerate(trainers)
        ]
        return _IKFit(trainers[best].net, records, best,
                      no_signal if validation is not None else None, found_signal)

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
        """P_hat(. | x, y, A) over each row's candidates, float64 (n, K_max), 0 in padding."""
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = self._batch(frame, need_feedback=True, need_action=False,
                                where="IGLP.ik_proba")
            return ik_probabilities(self.ik_model_, batch)

    def decode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Eq. (4) on every row: K * P_hat of the logged action, extreme flag, decoded reward.

        Returns a polars frame with ``event_id`` (when present) and :data:`DECODED_COLUMNS`.
        """
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = self._batch(frame, need_feedback=True, need_action=True, where="IGLP.decode")
            out = _decoded_arrays(self.config, self.ik_model_, batch, frame["feedback"])
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
                "p_hat": pl.Series(out["p_hat"], dtype=pl.Float64),
                "k_p_hat": pl.Series(out["k_p_hat"], dtype=pl.Float64),
                "is_extreme": pl.Series(out["is_extreme"], dtype=pl.Boolean),
                "definitely_negative": pl.Series(out["definitely_negative"], dtype=pl.Boolean),
                "decoded_reward": pl.Series(out["decoded_reward"], dtype=pl.Float64),
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
    def user_embeddings(self) -> tuple[list[Any], np.ndarray]:
        """(user ids, learned E-dimensional user embeddings) of the IK model."""
        self._check_fitted()
        weight = self.ik_model_.user_embedding.weight.detach().numpy()[1:]
        return self.users_.to_list(), weight.copy()

    def feedback_embeddings(self) -> tuple[list[Any], np.ndarray]:
        """(feedback signals, learned E-dimensional feedback embeddings) of the IK model."""
        self._check_fitted()
        weight = self.ik_model_.feedback_embedding.weight.detach().numpy()[1:]
        return self.feedback_vocabulary_.to_list(), weight.copy()

    def decoder_logits(self) -> np.ndarray:
        """Latent-state logits W (e_u * e_y) + b for every (user, feedback) pair seen in fit.

        Shape (n_users, n_feedback, S): the learned per-user reading of each signal (without
        the context term), the "per-user representation" that clusters users by convention.
        """
        self._check_fitted()
        with torch.no_grad():
            net = self.ik_model_
            eu = net.user_embedding.weight[1:]
            ew = net.feedback_embedding.weight[1:]
            q = eu[:, None, :] * ew[None, :, :]
            return net.decoder(q).numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (state_dicts), ``config.json`` and ``manifest.json`` atomically.

        ``model.pt`` holds both networks (their buffers carry the context standardisation
        and ``action_features_``); ``config.json`` every other fitted attribute.
        """
        self._check_fitted()
        state = {f"ik.{k}": v for k, v in self.ik_model_.state_dict().items()}
        state.update({f"policy.{k}": v for k, v in self.policy_model_.state_dict().items()})
        fitted = {
            "users": self.users_.to_list(),
            "feedback": self.feedback_vocabulary_.to_list(),
            "actions": self.actions_.to_list(),
            "context_dim": self.context_dim_,
            "n_rows": self.n_rows_,
            "best_restart": self.best_restart_,
            "ik_restarts": [r.to_dict() for r in self.ik_restarts_],
            "ik_no_signal_nll": self.ik_no_signal_nll_,
            "ik_found_signal": self.ik_found_signal_,
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
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> IGLP:
        """Rebuild a fitted learner from :meth:`save`'s folder (``weights_only=True``)."""
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="IGLP",
                                        versions=READABLE_VERSIONS)
        learner = cls(IGLPConfig.from_dict(document["config"]))
        fitted = document["fitted"]
        users = Vocabulary(tuple(fitted["users"]))
        feedback = Vocabulary(tuple(fitted["feedback"]))
        actions = Vocabulary(tuple(fitted["actions"]))
        context_dim = int(fitted["context_dim"])
        action_features = state["ik.actions.features"].numpy().copy()
        sizes = {"num_users": users.size, "num_actions": actions.size,
                 "context_dim": context_dim, "action_features": action_features}
        ik_model = ik_net(learner.config, **sizes, num_feedback=feedback.size)
        ik_model.load_state_dict(prefixed(state, "ik."))
        policy = policy_net(learner.config, **sizes)
        policy.load_state_dict(prefixed(state, "policy."))
        learner._set_fitted(
            users=users, feedback_vocabulary=feedback, actions=actions,
            context_dim=context_dim, action_features=action_features,
            ik_model=ik_model,
            ik_restarts=[IKTrainingRecord.from_dict(r) for r in fitted["ik_restarts"]],
            best_restart=int(fitted["best_restart"]),
            ik_no_signal_nll=fitted.get("ik_no_signal_nll"),
            ik_found_signal=fitted.get("ik_found_signal"),
            policy_model=policy, policy_curve=fitted["policy_curve"],
            n_rows=int(fitted["n_rows"]), warm_started=fitted.get("warm_started"),
            online_traces=fitted.get("online_traces"),
        )
        return learner

"""A plain contextual bandit on given rewards: the CB baselines of the experiments.

``RewardBandit(config).fit(frame, rewards)`` trains the same policy class as IGL-P
(:class:`offline_rl.igl.policy.PolicyNet`, weighted least squares on the logged (x, a) with
the importance weights of the frame) on an explicit reward vector instead of decoded
rewards: the "oracle" bandit of the Covertype experiment (true reward, simulation only) and
CB-emoji / CB-comment of the news experiment (reward = a hand-picked feedback signal). The
rewards are passed as an argument, never read from a ``reward`` column, so the frame is
still checked for the hidden reward.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import torch

from offline_rl.artifacts import load_artifact, load_table, save_artifact, torch_threads
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NotFittedError
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
from offline_rl.igl.learner import _training_weights
from offline_rl.igl.policy import (
    POLICY_SEED_OFFSET,
    PolicyNet,
    exploration_probabilities,
    greedy_index,
    policy_net,
    policy_scores,
    train_policy_with,
)

ARTIFACT_FORMAT = "offline_rl.igl.RewardBandit"
#: 2: user and action ids in ``vocabularies.parquet`` (version 1 listed them in config.json).
ARTIFACT_VERSION = "2"

#: The bandit reads no feedback: every row maps to the "unknown signal" index.
_NO_FEEDBACK = Vocabulary.of(())


class RewardBandit:
    """Contextual bandit of IGL-P's policy class trained on explicit rewards.

    Uses the policy fields of :class:`IGLPConfig` (``policy_*``, ``hidden_dim``,
    ``action_dim``, ``exploration``, ``epsilon``, ``gamma``, ``seed``).

    Attributes
    ----------
    policy_model_ : PolicyNet
        The fitted reward regressor.
    users_, actions_ : Vocabulary
        Ids seen in training (others map to an "unknown" embedding).
    context_dim_ : int
    policy_curve_ : list of float
        Training loss per epoch.
    n_rows_ : int

    All of them are assigned in :meth:`_set_fitted` only, by ``fit`` and ``load``.
    """

    def __init__(self, config: IGLPConfig | None = None) -> None:
        self.config = config if config is not None else IGLPConfig()
        if not isinstance(self.config, IGLPConfig):
            raise ValueError(
                f"RewardBandit expects an IGLPConfig, got {type(self.config).__name__} instead."
            )

    def _set_fitted(self, *, users: Vocabulary, actions: Vocabulary, context_dim: int,
                    policy_model: PolicyNet, policy_curve: list[float], n_rows: int) -> None:
        """Assign every fitted attribute (the one place they are set)."""
        self.users_ = users
        self.actions_ = actions
        self.context_dim_ = int(context_dim)
        self.policy_model_ = policy_model.eval()
        self.policy_curve_ = list(policy_curve)
        self.n_rows_ = int(n_rows)

    def fit(
        self, frame: pl.DataFrame, rewards: np.ndarray, *, actions: pl.DataFrame | None = None
    ) -> RewardBandit:
        """Fit the policy's reward regressor on ``rewards``, one per row of ``frame``.

        ``frame`` holds ``user_id``, ``context``, ``candidate_actions``, ``action_index`` (or
        ``action``) and ``weight`` (or ``propensity``), not ``reward``; ``actions`` the
        optional action features (``action_id``, ``features``).
        """
        check_frame(frame, ["user_id", "candidate_actions"], where="RewardBandit.fit")
        assert_no_hidden_reward(frame, learner="RewardBandit.fit")
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (frame.height,):
            raise ValueError(
                f"Expected `rewards.shape == ({frame.height},)`, but found {rewards.shape}."
            )
        frame = _training_weights(frame)
        cfg = self.config
        with torch_threads(cfg.max_threads):
            users = Vocabulary.fit(frame["user_id"])
            action_ids = Vocabulary.fit(frame["candidate_actions"].explode())
            batch = make_batch(frame, users=users, feedback=_NO_FEEDBACK, actions=action_ids,
                               need_feedback=False, where="RewardBandit.fit")
            context_dim = int(batch.context.shape[1])
            # seeded before the network is built, so its initialisation is seeded too
            torch.manual_seed(cfg.seed + POLICY_SEED_OFFSET)
            policy = policy_net(
                cfg, num_users=users.size, num_actions=action_ids.size, context_dim=context_dim,
                action_features=action_feature_matrix(actions, action_ids),
            )
            curve = train_policy_with(cfg, policy, batch, rewards)
        self._set_fitted(users=users, actions=action_ids, context_dim=context_dim,
                         policy_model=policy, policy_curve=curve, n_rows=len(batch))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "policy_model_"):
            raise NotFittedError(
                "This RewardBandit instance is not fitted yet. Call 'fit' with a frame and "
                "its rewards before using this method."
            )

    def _scores(self, frame: pl.DataFrame, where: str) -> tuple[np.ndarray, Batch]:
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            batch = make_batch(frame, users=self.users_, feedback=_NO_FEEDBACK,
                               actions=self.actions_, context_dim=self.context_dim_,
                               need_feedback=False, need_action=False, where=where)
            return policy_scores(self.policy_model_, batch), batch

    def predict_proba(self, frame: pl.DataFrame, *, exploration: str | None = None) -> np.ndarray:
        """P(. | x) over each row's candidates, (n, K_max), zeros in padding."""
        scores, batch = self._scores(frame, "RewardBandit.predict_proba")
        cfg = self.config
        return exploration_probabilities(scores, batch.mask, rule=exploration or cfg.exploration,
                                         epsilon=cfg.epsilon, gamma=cfg.gamma)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Greedy action id per row."""
        scores, batch = self._scores(frame, "RewardBandit.predict")
        return candidate_ids(frame, greedy_index(scores, batch.mask))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (the policy's state_dict), ``config.json``,
        ``vocabularies.parquet`` (user and action ids) and ``manifest.json``."""
        self._check_fitted()
        return save_artifact(
            directory,
            artifact_format=ARTIFACT_FORMAT,
            version=ARTIFACT_VERSION,
            state=self.policy_model_.state_dict(),
            config=self.config.to_dict(),
            fitted={
                "context_dim": self.context_dim_,
                "policy_curve": list(self.policy_curve_),
                "n_rows": self.n_rows_,
            },
            manifest={"seed": self.config.seed, "rows": self.n_rows_},
            tables={VOCABULARIES_TABLE: vocabularies_frame(
                {"users": self.users_, "actions": self.actions_})},
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> RewardBandit:
        """Rebuild a fitted bandit from :meth:`save`'s folder (``weights_only=True``)."""
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT,
                                        name="RewardBandit", versions=(ARTIFACT_VERSION,))
        learner = cls(IGLPConfig.from_dict(document["config"]))
        fitted = document["fitted"]
        vocabularies = vocabularies_from_frame(
            load_table(directory, VOCABULARIES_TABLE, artifact="RewardBandit"), ("users", "actions"))
        users, actions = vocabularies["users"], vocabularies["actions"]
        context_dim = int(fitted["context_dim"])
        policy = policy_net(learner.config, num_users=users.size, num_actions=actions.size,
                            context_dim=context_dim,
                            action_features=state["actions.features"].numpy().copy())
        policy.load_state_dict(state)
        learner._set_fitted(users=users, actions=actions, context_dim=context_dim,
                            policy_model=policy, policy_curve=fitted["policy_curve"],
                            n_rows=int(fitted["n_rows"]))
        return learner

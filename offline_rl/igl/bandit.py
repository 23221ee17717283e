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

import numpy as np
import polars as pl

from offline_rl.artifacts import torch_threads
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NotFittedError
from offline_rl.igl.batch import Vocabulary, action_feature_matrix, make_batch, require_columns
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import _training_weights
from offline_rl.igl.policy import (
    POLICY_SEED_OFFSET,
    exploration_probabilities,
    greedy_index,
    policy_net,
    policy_scores,
    train_policy_with,
)


class RewardBandit:
    """Contextual bandit of IGL-P's policy class trained on explicit rewards.

    Uses the policy fields of :class:`IGLPConfig` (``policy_*``, ``hidden_dim``,
    ``action_dim``, ``exploration``, ``epsilon``, ``gamma``, ``seed``).
    """

    def __init__(self, config: IGLPConfig | None = None) -> None:
        self.config = config if config is not None else IGLPConfig()

    def fit(
        self, frame: pl.DataFrame, rewards: np.ndarray, *, actions: pl.DataFrame | None = None
    ) -> RewardBandit:
        assert_no_hidden_reward(frame, learner="RewardBandit.fit")
        require_columns(frame, ["user_id", "candidate_actions"], where="RewardBandit.fit")
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (frame.height,):
            raise ValueError(
                f"Expected `rewards.shape == ({frame.height},)`, but found {rewards.shape}."
            )
        frame = _training_weights(frame)
        cfg = self.config
        with torch_threads(cfg.max_threads):
            self.users_ = Vocabulary.fit(frame["user_id"])
            self.actions_ = Vocabulary.fit(frame["candidate_actions"].explode())
            self._feedback = Vocabulary(())
            batch = make_batch(frame, users=self.users_, feedback=self._feedback,
                               actions=self.actions_, need_feedback=False)
            self.context_dim_ = int(batch.context.shape[1])
            import torch

            # seeded before the network is built, so its initialisation is seeded too
            torch.manual_seed(cfg.seed + POLICY_SEED_OFFSET)
            self.policy_model_ = policy_net(
                cfg, num_users=self.users_.size, num_actions=self.actions_.size,
                context_dim=self.context_dim_,
                action_features=action_feature_matrix(actions, self.actions_),
            )
            self.policy_curve_ = train_policy_with(cfg, self.policy_model_, batch, rewards)
        return self

    def _scores(self, frame: pl.DataFrame):
        if not hasattr(self, "policy_model_"):
            raise NotFittedError("This RewardBandit instance is not fitted yet. Call 'fit' first.")
        with torch_threads(self.config.max_threads):
            batch = make_batch(frame, users=self.users_, feedback=self._feedback,
                               actions=self.actions_, context_dim=self.context_dim_,
                               need_feedback=False, need_action=False)
            return policy_scores(self.policy_model_, batch), batch.mask

    def predict_proba(self, frame: pl.DataFrame, *, exploration: str | None = None) -> np.ndarray:
        """P(. | x) over each row's candidates, (n, K_max), zeros in padding."""
        scores, mask = self._scores(frame)
        cfg = self.config
        return exploration_probabilities(scores, mask, rule=exploration or cfg.exploration,
                                         epsilon=cfg.epsilon, gamma=cfg.gamma)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Greedy action id per row."""
        scores, mask = self._scores(frame)
        lists = frame["candidate_actions"]
        if isinstance(lists.dtype, pl.Array):
            lists = lists.cast(pl.List(lists.dtype.inner))
        return lists.list.get(pl.Series(greedy_index(scores, mask))).cast(pl.Int64).to_numpy()

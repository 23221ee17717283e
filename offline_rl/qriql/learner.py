"""QR-IQL, the public learner: ``QRIQL(config).fit(trajectories).mental_rewards(trajectories)``.

1. Encode the ``user_trajectories`` rows (s, a, s', done) (:mod:`offline_rl.qriql.features`).
2. Train the quantile Q-network (:mod:`offline_rl.qriql.network`) on the QR-IQL loss of
   Algorithm 1 (:func:`offline_rl.qriql.objective.qriql_loss`) with Adam on random
   mini-batches; ``quantiles=1`` is IQ-Learn through the same code.
3. ``r*(s, a) = Q(s, a) - gamma V(s'_a)`` (Eq. 7) for the logged action and every other one,
   where ``s'_a`` is the next state with this step's response set to ``a`` (the counterfactual
   next state: the history it carries records the response).

The learner never reads files and never sees the hidden reward.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.artifacts import load_artifact, save_artifact, torch_threads
from offline_rl.data.atomic import atomic_write_parquet
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NotFittedError
from offline_rl.qriql.config import QRIQLConfig
from offline_rl.qriql.features import (
    KEY_COLUMNS,
    REQUIRED_COLUMNS,
    IdIndex,
    StateArrays,
    TrajectoryArrays,
    action_feature_matrix,
    category_lookup,
    encode_trajectories,
    flip_last_response,
    require_columns,
)
from offline_rl.qriql.network import QuantileQNetwork, q_values, soft_value
from offline_rl.qriql.objective import iq_learn_loss, mental_reward, qriql_loss

ARTIFACT_FORMAT = "offline_rl.qriql.QRIQL"
ARTIFACT_VERSION = "1"
REWARDS_FILE = "mental_rewards.parquet"

#: Columns of :meth:`QRIQL.mental_rewards` after the keys ``user_id, session_id, step, event_id``.
MENTAL_REWARD_COLUMNS: tuple[str, ...] = (
    "response",
    "mental_reward",
    "mental_reward_quantiles",
    "mental_reward_by_action",
    "mental_reward_positive",
    "mental_reward_negative",
    "counterfactual_action",
    "counterfactual_mental_reward",
    "q_value",
    "next_value",
    "done",
)




def _tensors(state: StateArrays, index: np.ndarray | slice = slice(None)) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(np.ascontiguousarray(state.history_items[index])),
        torch.from_numpy(np.ascontiguousarray(state.history_responses[index])),
        torch.from_numpy(np.ascontiguousarray(state.item[index])),
        torch.from_numpy(np.ascontiguousarray(state.position[index])),
        torch.from_numpy(np.ascontiguousarray(state.context[index])),
    )


class QRIQL:
    """Quantile Regression Inverse Q-Learning of a distributional mental reward model.

    Parameters
    ----------
    config : QRIQLConfig, optional
        Hyperparameters; ``QRIQLConfig()`` (N = 10, alpha = 0.5) when omitted.

    Attributes
    ----------
    network_ : QuantileQNetwork
    items_, categories_ : IdIndex
    history_length_, context_dim_ : int
    loss_curve_ : list of float
        Training loss per step.
    steps_ : int
        Adam steps taken (``steps``, or derived from ``epochs``).
    fit_seconds_, samples_per_second_ : float
    n_rows_ : int

    References
    ----------
    MTRec (mtrec-paper.txt) sec. 4.2, Eq. (6)-(7), Appendix A.2, Algorithm 1.
    """

    def __init__(self, config: QRIQLConfig | None = None) -> None:
        self.config = config if config is not None else QRIQLConfig()
        if not isinstance(self.config, QRIQLConfig):
            raise ValueError(
                f"QRIQL expects a QRIQLConfig, got {type(self.config).__name__} instead."
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        trajectories: pl.DataFrame,
        *,
        item_categories: Mapping[Any, Any] | pl.DataFrame | None = None,
        actions: pl.DataFrame | None = None,
    ) -> QRIQL:
        """Learn the quantile Q-network from a ``user_trajectories`` frame.

        Parameters
        ----------
        trajectories : polars.DataFrame
            The ``user_trajectories`` mart (see docs/data-contracts.md); must not hold ``reward``.
        item_categories : mapping or polars.DataFrame, optional
            Item id -> category (a dict, or a frame with ``item`` and ``category``).
        actions : polars.DataFrame, optional
            Item features (``action_id``, ``features``), the canonical actions table.
        """
        assert_no_hidden_reward(trajectories, learner="QRIQL.fit")
        require_columns(trajectories, REQUIRED_COLUMNS, where="QRIQL.fit")
        if trajectories.height < 2:
            raise ValueError(f"QRIQL.fit needs at least 2 trajectory rows; got {trajectories.height}.")
        cfg = self.config
        with torch_threads(cfg.max_threads):
            self.items_ = IdIndex.fit(pl.concat([
                trajectories["item"], trajectories["next_item"],
                trajectories["history_items"].explode(),
            ]))
            self.categories_, lookup = category_lookup(self.items_, item_categories)
            features = action_feature_matrix(self.items_, actions)
            self.history_length_ = max(
                1, int(trajectories["next_history_items"].list.len().max() or 1)
            )
            has_context = "context" in trajectories.columns and cfg.use_context
            self.context_dim_ = (
                int(trajectories["context"].list.len().max() or 0) if has_context else 0
            )
            data = self._encode(trajectories)
            torch.manual_seed(cfg.seed)
            self.network_ = self._new_network(lookup, features)
            self.n_rows_ = len(data)
            batch = min(cfg.batch_size, self.n_rows_)
            self.steps_ = (cfg.steps if cfg.epochs is None
                           else max(1, math.ceil(cfg.epochs * self.n_rows_ / batch)))
            start = time.perf_counter()
            self.loss_curve_ = self._train(data)
            self.fit_seconds_ = time.perf_counter() - start
            self.samples_per_second_ = self.steps_ * batch / max(self.fit_seconds_, 1e-9)
            self.network_.eval()
        return self

    def _new_network(self, lookup: np.ndarray, features: np.ndarray) -> QuantileQNetwork:
        cfg = self.config
        return QuantileQNetwork(
            n_actions=cfg.n_actions,
            quantiles=cfg.quantiles,
            hidden_dim=cfg.hidden_dim,
            num_items=self.items_.size,
            num_categories=self.categories_.size,
            category_of_item=lookup,
            action_features=features,
            context_dim=self.context_dim_,
            embedding_dim=cfg.embedding_dim,
            max_position=cfg.max_position,
        )

    def _encode(self, trajectories: pl.DataFrame) -> TrajectoryArrays:
        cfg = self.config
        return encode_trajectories(
            trajectories,
            items=self.items_,
            history_length=self.history_length_,
            context_dim=self.context_dim_,
            max_position=cfg.max_position,
            n_actions=cfg.n_actions,
        )

    def _train(self, data: TrajectoryArrays) -> list[float]:
        cfg = self.config
        net = self.network_
        net.train()
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate,
                                     weight_decay=cfg.weight_decay)
        n = len(data)
        batch = min(cfg.batch_size, n)
        rng = np.random.default_rng(cfg.seed)
        state, next_state = _tensors(data.state), _tensors(data.next_state)
        actions = torch.from_numpy(data.action)
        done = torch.from_numpy(data.done)
        curve: list[float] = []
        for _ in range(self.steps_):
            index = torch.from_numpy(rng.choice(n, size=batch, replace=False))
            values = net(*(t[index] for t in state))
            next_values = net(*(t[index] for t in next_state))
            parts = qriql_loss(
                values, actions[index], next_values, done[index], gamma=cfg.gamma,
                alpha=cfg.alpha, temperature=cfg.temperature, huber_kappa=cfg.huber_kappa,
                terminal_value=self._terminal(),
            )
            optimizer.zero_grad(set_to_none=True)
            parts.loss.backward()
            optimizer.step()
            curve.append(float(parts.loss.detach()))
        return curve

    # ------------------------------------------------------------------ inference
    def _terminal(self) -> torch.Tensor | None:
        if self.config.terminal_value == "learned":
            return self.network_.terminal_value
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "This QRIQL instance is not fitted yet. Call 'fit' with a user_trajectories "
                "frame before using this method."
            )

    def _forward(self, state: StateArrays, chunk: int = 65536) -> torch.Tensor:
        outputs = []
        with torch.no_grad():
            for start in range(0, len(state), chunk):
                index = slice(start, start + chunk)
                outputs.append(self.network_(*_tensors(state, index)))
        if not outputs:
            return torch.zeros((0, self.config.n_actions, self.config.quantiles))
        return torch.cat(outputs)

    def predict_quantiles(self, trajectories: pl.DataFrame) -> np.ndarray:
        """``lambda_i(s, a)`` for every row, action and quantile: float64 (n, A, N)."""
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            data = self._encode(trajectories)
            return self._forward(data.state).double().numpy()

    def predict_q(self, trajectories: pl.DataFrame) -> np.ndarray:
        """``Q(s, a)`` (mean of quantiles) for every row and action: float64 (n, A)."""
        return self.predict_quantiles(trajectories).mean(axis=-1)

    def loss(self, trajectories: pl.DataFrame) -> float:
        """The training objective (QR-IQL, or IQ-Learn for N = 1) on ``trajectories``."""
        self._check_fitted()
        cfg = self.config
        with torch_threads(cfg.max_threads):
            data = self._encode(trajectories)
            values, next_values = self._forward(data.state), self._forward(data.next_state)
            actions, done = torch.from_numpy(data.action), torch.from_numpy(data.done)
            if cfg.quantiles == 1:
                terminal = self._terminal()
                parts = iq_learn_loss(q_values(values), actions, q_values(next_values), done,
                                      gamma=cfg.gamma, alpha=cfg.alpha,
                                      temperature=cfg.temperature,
                                      terminal_value=None if terminal is None else terminal[0])
            else:
                parts = qriql_loss(values, actions, next_values, done, gamma=cfg.gamma,
                                   alpha=cfg.alpha, temperature=cfg.temperature,
                                   huber_kappa=cfg.huber_kappa, terminal_value=self._terminal())
        return float(parts.loss)

    def mental_reward_arrays(self, trajectories: pl.DataFrame) -> dict[str, np.ndarray]:
        """Eq. (7) as arrays: ``by_action`` (n, A), ``quantiles`` (n, A, N) sorted, ``q``, ``v``.

        ``by_action[:, a] = Q(s, a) - gamma V(s'_a)`` with ``s'_a`` the next state had the user
        answered ``a`` (its last history response set to ``a``); ``V = 0`` at done steps.
        """
        self._check_fitted()
        cfg = self.config
        with torch_threads(cfg.max_threads), torch.no_grad():
            data = self._encode(trajectories)
            values = self._forward(data.state)
            done = torch.from_numpy(data.done)
            n = len(data)
            by_action = np.zeros((n, cfg.n_actions))
            quantiles = np.zeros((n, cfg.n_actions, cfg.quantiles))
            next_value = np.zeros((n, cfg.n_actions))
            for action in range(cfg.n_actions):
                next_state = flip_last_response(
                    data.next_state, cfg.n_actions, np.full(n, action, dtype=np.int64)
                )
                next_values = self._forward(next_state)
                reward, reward_q = mental_reward(values, next_values, done, gamma=cfg.gamma,
                                                 temperature=cfg.temperature,
                                                 terminal_value=self._terminal())
                by_action[:, action] = reward[:, action].double().numpy()
                quantiles[:, action] = reward_q[:, action].double().numpy()
                value = soft_value(q_values(next_values), cfg.temperature, dim=1)
                terminal = self._terminal()
                at_end = terminal.mean() if terminal is not None else torch.zeros(())
                next_value[:, action] = torch.where(done, at_end, value).double().numpy()
        return {
            "by_action": by_action,
            "quantiles": np.sort(quantiles, axis=-1),
            "q": q_values(values).double().numpy(),
            "next_value": next_value,
            "action": data.action,
            "done": data.done,
        }

    def mental_rewards(self, trajectories: pl.DataFrame) -> pl.DataFrame:
        """``r*(s, a)`` of every logged step next to the trajectory keys.

        Returns
        -------
        polars.DataFrame
            ``user_id, session_id, step, event_id`` then :data:`MENTAL_REWARD_COLUMNS`:
            ``mental_reward`` is r* of the logged response, ``mental_reward_quantiles`` its N
            sorted quantiles ``lambda_i(s, a) - gamma V_i(s'_a)``, ``mental_reward_by_action``
            r* of every action, ``mental_reward_positive``/``_negative`` r*(s, a^P)/r*(s, a^N)
            (Eq. 9), ``counterfactual_action`` the other response (binary actions) and its
            reward, ``q_value`` Q(s, a), ``next_value`` V(s'_a).
        """
        out = self.mental_reward_arrays(trajectories)
        n = trajectories.height
        rows = np.arange(n)
        action = out["action"]
        counterfactual = 1 - action if self.config.n_actions == 2 else None
        columns: dict[str, Any] = {key: trajectories[key] for key in KEY_COLUMNS}
        columns.update({
            "response": pl.Series(action, dtype=pl.Int64),
            "mental_reward": pl.Series(out["by_action"][rows, action], dtype=pl.Float64),
            "mental_reward_quantiles": pl.Series(
                out["quantiles"][rows, action].tolist(), dtype=pl.List(pl.Float64)
            ),
            "mental_reward_by_action": pl.Series(out["by_action"].tolist(),
                                                 dtype=pl.List(pl.Float64)),
            "mental_reward_positive": pl.Series(out["by_action"][:, 1], dtype=pl.Float64),
            "mental_reward_negative": pl.Series(out["by_action"][:, 0], dtype=pl.Float64),
            "counterfactual_action": pl.Series(counterfactual, dtype=pl.Int64)
            if counterfactual is not None else pl.Series([None] * n, dtype=pl.Int64),
            "counterfactual_mental_reward": pl.Series(
                out["by_action"][rows, counterfactual], dtype=pl.Float64
            ) if counterfactual is not None else pl.Series([None] * n, dtype=pl.Float64),
            "q_value": pl.Series(out["q"][rows, action], dtype=pl.Float64),
            "next_value": pl.Series(out["next_value"][rows, action], dtype=pl.Float64),
            "done": pl.Series(out["done"], dtype=pl.Boolean),
        })
        return pl.DataFrame(columns)

    def write_mental_rewards(self, trajectories: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`mental_rewards` as Parquet atomically (``mental_rewards.parquet``)."""
        return atomic_write_parquet(self.mental_rewards(trajectories), Path(path))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (state_dict), ``config.json`` and ``manifest.json`` atomically."""
        self._check_fitted()
        return save_artifact(
            directory,
            artifact_format=ARTIFACT_FORMAT,
            version=ARTIFACT_VERSION,
            state=self.network_.state_dict(),
            config=self.config.to_dict(),
            fitted={
                "items": list(self.items_.values),
                "categories": list(self.categories_.values),
                "action_feature_dim": int(self.network_.encoder.action_features.shape[1]),
                "history_length": self.history_length_,
                "context_dim": self.context_dim_,
                "n_rows": self.n_rows_,
                "steps": self.steps_,
                "fit_seconds": self.fit_seconds_,
                "samples_per_second": self.samples_per_second_,
                "loss_curve": self.loss_curve_,
            },
            manifest={
                "seed": self.config.seed,
                "rows": self.n_rows_,
                "final_loss": self.loss_curve_[-1] if self.loss_curve_ else None,
            },
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> QRIQL:
        """Rebuild a fitted learner from :meth:`save`'s folder (``weights_only=True``)."""
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="QRIQL")
        learner = cls(QRIQLConfig.from_dict(document["config"]))
        fitted = document["fitted"]
        learner.items_ = IdIndex(tuple(fitted["items"]))
        learner.categories_ = IdIndex(tuple(fitted["categories"]))
        learner.history_length_ = int(fitted["history_length"])
        learner.context_dim_ = int(fitted["context_dim"])
        learner.n_rows_ = int(fitted["n_rows"])
        learner.steps_ = int(fitted["steps"])
        learner.fit_seconds_ = float(fitted["fit_seconds"])
        learner.samples_per_second_ = float(fitted["samples_per_second"])
        learner.loss_curve_ = list(fitted["loss_curve"])
        lookup = np.zeros(learner.items_.size, dtype=np.int64)
        features = np.zeros((learner.items_.size, int(fitted["action_feature_dim"])),
                            dtype=np.float32)
        learner.network_ = learner._new_network(lookup, features)
        learner.network_.load_state_dict(state)
        learner.network_.eval()
        return learner

"""MTRec's RL variant (Eq. 12): REINFORCE on the sessions simulator with ``r_env + kappa r*``.

The recommender scores each candidate with ``theta_u . W v_i + b . f_i + c position`` (user
taste from the context, item features from the actions table) and samples the shown item from
the softmax. A batch of sessions is played on :class:`SessionEnvironment`; each step earns
``r_env`` (the click) plus ``kappa`` times the mental reward a fitted :class:`QRIQL` assigns to
the step in its trajectory. The policy follows the REINFORCE gradient of the discounted return
with a mean baseline. Evaluation plays fresh sessions greedily-sampled from the policy and
reports clicks, session length and the hidden satisfaction.

References: MTRec (mtrec-paper.txt) Eq. (11)-(12), sec. 5.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from offline_rl.artifacts import torch_threads
from offline_rl.data.prepare import user_trajectories
from offline_rl.qriql.learner import QRIQL
from offline_rl.simulators.sessions import SessionEnvironment, logs_from_steps, run_sessions


class ScoringPolicy(nn.Module):
    """Bilinear user-item score + item-feature and position terms."""

    def __init__(self, user_dim: int, item_dim: int) -> None:
        super().__init__()
        self.bilinear = nn.Parameter(torch.zeros(user_dim, item_dim))
        self.item_weight = nn.Parameter(torch.zeros(item_dim))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users (n, du), items (n, K, di) -> logits (n, K)."""
        return torch.einsum("nu,ud,nkd->nk", users, self.bilinear, items) + items @ self.item_weight


@dataclass(frozen=True)
class PolicyResult:
    """Per-session averages of fresh sessions played by the trained policy."""

    kappa: float
    clicks: float
    length: float
    satisfaction: float
    satisfaction_per_step: float


def _mental_rewards(env: SessionEnvironment, steps: dict, model: QRIQL, rng) -> np.ndarray:
    logs = pl.from_arrow(logs_from_steps(env, steps, rng)).drop("reward")
    trajectories = user_trajectories(logs)
    rewards = model.mental_rewards(trajectories)
    order = logs.select("event_id").join(rewards.select("event_id", "mental_reward"),
                                         on="event_id", how="left", maintain_order="left")
    return order["mental_reward"].fill_null(0.0).to_numpy()


def train_policy(
    env: SessionEnvironment,
    *,
    reward_model: QRIQL | None = None,
    kappa: float = 0.0,
    iterations: int = 30,
    sessions_rows: int = 2000,
    learning_rate: float = 0.05,
    discount: float = 0.9,
    seed: int = 0,
    max_threads: int = 1,
) -> ScoringPolicy:
    """REINFORCE with ``r = click + kappa r*`` (Eq. 12); ``kappa = 0`` is the plain RL baseline."""
    if kappa > 0 and reward_model is None:
        raise ValueError("train_policy: kappa > 0 needs a fitted QRIQL reward_model.")
    users_features = torch.as_tensor(env.user_theta, dtype=torch.float32)
    items_features = torch.as_tensor(env.item_features, dtype=torch.float32)
    torch.manual_seed(seed)
    policy = ScoringPolicy(users_features.shape[1], items_features.shape[1])
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng([seed, 11])
    with torch_threads(max_threads):
        for _ in range(iterations):
            steps = play(env, policy, sessions_rows, rng)
            reward = steps["click"].astype(np.float64)
            if kappa > 0:
                reward = reward + kappa * _mental_rewards(env, steps, reward_model, rng)
            returns = discounted_returns(reward, steps["session"], discount)
            advantage = torch.as_tensor(returns - returns.mean(), dtype=torch.float32)
            logits = policy(users_features[steps["user"]], items_features[steps["candidates"]])
            log_probs = torch.log_softmax(logits, dim=1)
            chosen = log_probs[torch.arange(len(advantage)), torch.as_tensor(steps["index"])]
            loss = -(chosen * advantage).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return policy


def play(env: SessionEnvironment, policy: ScoringPolicy, rows: int, rng) -> dict:
    """Sessions with items sampled from the policy's softmax."""
    users_features = torch.as_tensor(env.user_theta, dtype=torch.float32)
    items_features = torch.as_tensor(env.item_features, dtype=torch.float32)

    def choose(users, candidates, steps, rng):
        with torch.no_grad():
            logits = policy(users_features[users], items_features[candidates])
            probs = torch.softmax(logits, dim=1).double().numpy()
        cdf = np.cumsum(probs, axis=1)
        u = rng.random(len(users))[:, None] * cdf[:, -1:]
        index = np.minimum((cdf < u).sum(axis=1), probs.shape[1] - 1)
        return index, probs

    return run_sessions(env, rows, rng, choose=choose)


def discounted_returns(reward: np.ndarray, session: np.ndarray, discount: float) -> np.ndarray:
    """``G_t = sum_k discount^k r_{t+k}`` within each session (rows in session order)."""
    returns = np.zeros_like(reward, dtype=np.float64)
    running = 0.0
    for t in range(reward.shape[0] - 1, -1, -1):
        if t == reward.shape[0] - 1 or session[t + 1] != session[t]:
            running = 0.0
        running = reward[t] + discount * running
        returns[t] = running
    return returns


def evaluate_policy(env: SessionEnvironment, policy: ScoringPolicy, *, kappa: float,
                    rows: int = 5000, seed: int = 0) -> PolicyResult:
    """Per-session clicks, length and hidden satisfaction of fresh sessions."""
    steps = play(env, policy, rows, np.random.default_rng([seed, 99]))
    frame = pl.DataFrame({"session": steps["session"], "click": steps["click"],
                          "satisfaction": steps["satisfaction"]})
    # In order of first appearance: a hash grouping's order varies between runs, and so
    # would the last bits of the means below.
    per_session = frame.group_by("session", maintain_order=True).agg(
        pl.col("click").sum(), pl.len().alias("length"), pl.col("satisfaction").sum()
    )
    return PolicyResult(
        kappa=kappa,
        clicks=float(per_session["click"].mean()),
        length=float(per_session["length"].mean()),
        satisfaction=float(per_session["satisfaction"].mean()),
        satisfaction_per_step=float(frame["satisfaction"].mean()),
    )

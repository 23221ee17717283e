"""The contextual-bandit policy over candidate sets (CB-Alg of Algorithm 1), in torch.

A reward regressor f(x, a) = <phi(x), psi(a)> + b(a) (psi from an action embedding and
optional action features, phi an MLP of the standardised context, optionally with a user
embedding) trained on decoded rewards r_hat of the logged actions:

    min_f  sum_t w_t (f(x_t, a_t) - r_hat_t)^2 / sum_t w_t

with w_t the importance weight 1/(K_t P(a_t | x_t)) of the logs (off-policy, so that every
action is fitted under the same synthetic uniform distribution) or 1 (on-policy). The
policy P(. | x) puts its mass on argmax_a f(x, a) with an exploration rule:

* epsilon-greedy: (1 - eps) on the argmax plus eps / K on every candidate;
* SquareCB (Foster & Rakhlin, 2020): p(a) = 1 / (K + gamma (f(x, a*) - f(x, a))) for
  a != a*, the rest on a*;
* greedy: all mass on the argmax.

References
----------
Maghakian et al., ICLR 2023, Algorithm 1 (CB-Alg); Foster & Rakhlin, "Beyond UCB", 2020.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from offline_rl.igl.batch import Batch
from offline_rl.igl.ik_model import (
    NEG_INF,
    ActionEncoder,
    ContextEncoder,
    batch_tensors,
    minibatches,
    optimisers,
    shared_candidates,
)


class PolicyNet(nn.Module):
    """Masked reward scores f(x, a) over each row's candidate set, (n, K)."""

    def __init__(
        self,
        *,
        num_users: int,
        num_actions: int,
        context_dim: int,
        action_features: np.ndarray,
        action_dim: int,
        hidden_dim: int,
        user_dim: int = 0,
    ) -> None:
        super().__init__()
        self.action_dim = action_dim
        # sparse: a step updates the batch's users only (SparseAdam), whatever their number
        self.user_embedding = nn.Embedding(num_users, user_dim, sparse=True) if user_dim else None
        if self.user_embedding is not None:
            nn.init.normal_(self.user_embedding.weight, std=0.1)
            self.user_project = nn.Linear(user_dim, action_dim, bias=False)
        self.context = ContextEncoder(context_dim, hidden_dim, action_dim)
        self.actions = ActionEncoder(num_actions, action_features, action_dim)
        self.action_bias = nn.Embedding(num_actions, 1)
        nn.init.zeros_(self.action_bias.weight)

    def forward(self, user, x, candidates, mask) -> torch.Tensor:
        phi = self.context(x)
        if self.user_embedding is not None:
            phi = phi + self.user_project(self.user_embedding(user))
        shared = shared_candidates(candidates)
        if shared is not None:
            # a fixed action set: embed it once, one matrix product (see IKNet)
            scores = phi @ self.actions(shared).T + self.action_bias(shared).squeeze(-1)
        else:
            psi = self.actions(candidates)
            scores = (phi.unsqueeze(1) * psi).sum(-1) + self.action_bias(candidates).squeeze(-1)
        return scores.masked_fill(~mask, NEG_INF)


def train_policy(
    net: PolicyNet,
    batch: Batch,
    rewards: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    seed: int,
    use_weights: bool = True,
    set_scaling: bool = True,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Weighted least squares of ``rewards`` on the logged (x, a); returns the loss per epoch.

    Each epoch draws one permutation (numpy, seeded) and builds its mini-batches one at a
    time on ``device``; Adam on the dense parameters, SparseAdam on a user embedding.
    """
    rng = np.random.default_rng(seed)
    if set_scaling:
        net.context.set_scaling(batch.context)
    net.to(device)
    rewards = np.asarray(rewards, dtype=np.float32)
    weights = batch.weight if use_weights else np.ones(len(batch), dtype=np.float32)
    steps = optimisers(net, learning_rate=learning_rate, weight_decay=weight_decay)
    n = len(batch)
    curve = []
    for _ in range(epochs):
        net.train()
        order = rng.permutation(n)
        total = 0.0
        for start, t in zip(range(0, n, batch_size),
                            minibatches(batch, order, batch_size, device=device), strict=True):
            rows = order[start:start + batch_size]
            r = torch.as_tensor(rewards[rows], device=device)
            w = torch.as_tensor(np.require(weights[rows], dtype=np.float32), device=device)
            scores = net(t["user"], t["x"], t["candidates"], t["mask"])
            pred = scores.gather(1, t["target"].unsqueeze(1)).squeeze(1)
            loss = (w * (pred - r) ** 2).sum() / w.sum().clamp_min(1e-12)
            for optimiser in steps:
                optimiser.zero_grad(set_to_none=True)
            loss.backward()
            for optimiser in steps:
                optimiser.step()
            total += float(loss.detach()) * int(rows.shape[0])
        curve.append(total / max(n, 1))
    net.eval()
    return curve


#: Offset of the policy's seed from ``IGLPConfig.seed`` (its draws differ from the IK model's).
POLICY_SEED_OFFSET = 7919


def policy_net(config, *, num_users: int, num_actions: int, context_dim: int,
               action_features: np.ndarray) -> PolicyNet:
    """A :class:`PolicyNet` sized by the policy fields of an ``IGLPConfig``."""
    return PolicyNet(
        num_users=num_users,
        num_actions=num_actions,
        context_dim=context_dim,
        action_features=action_features,
        action_dim=config.action_dim,
        hidden_dim=config.hidden_dim,
        user_dim=config.policy_user_dim,
    )


def train_policy_with(config, net: PolicyNet, batch: Batch, rewards: np.ndarray) -> list[float]:
    """:func:`train_policy` with the ``policy_*`` fields of an ``IGLPConfig``."""
    return train_policy(
        net, batch, rewards,
        epochs=config.policy_epochs,
        batch_size=config.policy_batch_size,
        learning_rate=config.policy_learning_rate,
        weight_decay=config.policy_weight_decay,
        seed=config.seed + POLICY_SEED_OFFSET,
        use_weights=config.policy_weighting == "importance",
    )


@torch.no_grad()
def policy_scores(net: PolicyNet, batch: Batch, *, chunk: int = 65536) -> np.ndarray:
    """f(x, a) over candidates as float64 (n, k_max); -inf-like in padding."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, len(batch), chunk):
        t = batch_tensors(batch, slice(start, start + chunk), device=device)
        out.append(net(t["user"], t["x"], t["candidates"], t["mask"]).double().cpu())
    if not out:
        return np.zeros((0, batch.candidates.shape[1]))
    return torch.cat(out).numpy()


def greedy_index(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """argmax over real candidates (first one on ties)."""
    return np.where(mask, scores, -np.inf).argmax(axis=1)


def exploration_probabilities(
    scores: np.ndarray,
    mask: np.ndarray,
    *,
    rule: str,
    epsilon: float = 0.05,
    gamma: float = 100.0,
) -> np.ndarray:
    """P(. | x) over each row's candidates from scores, zeros in padding; rows sum to 1."""
    n, _ = scores.shape
    k = mask.sum(axis=1).astype(np.float64)
    best = greedy_index(scores, mask)
    rows = np.arange(n)
    if rule == "greedy":
        probs = np.zeros(scores.shape)
        probs[rows, best] = 1.0
        return probs
    if rule == "epsilon_greedy":
        probs = np.where(mask, epsilon / k[:, None], 0.0)
        probs[rows, best] += 1.0 - epsilon
        return probs
    if rule == "squarecb":
        gap = scores[rows, best][:, None] - np.where(mask, scores, 0.0)
        probs = np.where(mask, 1.0 / (k[:, None] + gamma * np.maximum(gap, 0.0)), 0.0)
        probs[rows, best] = 0.0
        probs[rows, best] = 1.0 - probs.sum(axis=1)
        return probs
    raise ValueError(
        f"The exploration rule must be a str among ('epsilon_greedy', 'squarecb', 'greedy'). "
        f"Got {rule!r} instead."
    )

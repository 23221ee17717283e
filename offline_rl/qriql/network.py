"""The quantile Q-network of QR-IQL: |A| x N outputs per state (MTRec Appendix A.2).

State encoder: embeddings of the history items (+ their categories and responses), pooled by a
masked mean and by attention on the candidate (DIN-style); the candidate item (+ category and
optional action features); the step position; the user context. An MLP maps the concatenation
to ``lambda_i(s, a)`` for every action ``a`` and quantile ``i``.

``Q(s, a) = mean_i lambda_i(s, a)`` and ``V(s) = T logsumexp_a(Q(s, a) / T)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class StateEncoder(nn.Module):
    """Sequence state (history, candidate, position, context) -> a vector of ``out_dim``."""

    def __init__(
        self,
        *,
        num_items: int,
        num_categories: int,
        category_of_item: np.ndarray,
        action_features: np.ndarray,
        context_dim: int,
        embedding_dim: int,
        max_position: int,
        n_responses: int,
    ) -> None:
        super().__init__()
        d = embedding_dim
        self.item_embedding = nn.Embedding(num_items, d, padding_idx=0)
        self.category_embedding = nn.Embedding(max(num_categories, 2), d, padding_idx=0)
        self.response_embedding = nn.Embedding(n_responses + 1, d, padding_idx=0)
        self.position_embedding = nn.Embedding(max_position, d)
        self.register_buffer("category_of_item", torch.as_tensor(category_of_item, dtype=torch.long))
        self.register_buffer("action_features",
                             torch.as_tensor(action_features, dtype=torch.float32))
        feature_dim = int(action_features.shape[1])
        self.feature_projection = nn.Linear(feature_dim, d) if feature_dim else None
        self.context_projection = nn.Linear(context_dim, d) if context_dim else None
        self.out_dim = 6 * d

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        vectors = self.item_embedding(items) + self.category_embedding(self.category_of_item[items])
        if self.feature_projection is not None:
            vectors = vectors + self.feature_projection(self.action_features[items])
        return vectors

    def forward(self, history_items, history_responses, item, position, context) -> torch.Tensor:
        mask = (history_items > 0).unsqueeze(-1).float()
        history = self.item_vectors(history_items) + self.response_embedding(history_responses)
        history = history * mask
        count = mask.sum(dim=1).clamp(min=1.0)
        mean = history.sum(dim=1) / count
        candidate = self.item_vectors(item)
        scores = (history * candidate.unsqueeze(1)).sum(-1) / history.shape[-1] ** 0.5
        scores = scores.masked_fill(mask.squeeze(-1) == 0, -1e9)
        weights = torch.softmax(scores, dim=1) * mask.squeeze(-1)
        attended = (weights.unsqueeze(-1) * history).sum(dim=1)
        position_vector = self.position_embedding(position)
        if self.context_projection is not None:
            user = self.context_projection(context)
        else:
            user = torch.zeros_like(candidate)
        return torch.cat(
            [mean, attended, candidate, candidate * (mean + attended), position_vector, user],
            dim=-1,
        )


class QuantileQNetwork(nn.Module):
    """``lambda(s) -> (n, |A|, N)``: the N quantile supports of Z(s, a) for every action."""

    def __init__(self, *, n_actions: int, quantiles: int, hidden_dim: int, **encoder_args) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.quantiles = quantiles
        self.encoder = StateEncoder(n_responses=n_actions, **encoder_args)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, n_actions * quantiles),
        )
        #: V_i of the absorbing end-of-session state (used when the config learns it).
        self.terminal_value = nn.Parameter(torch.zeros(quantiles))

    def forward(self, history_items, history_responses, item, position, context) -> torch.Tensor:
        features = self.encoder(history_items, history_responses, item, position, context)
        return self.head(features).view(-1, self.n_actions, self.quantiles)


def q_values(quantile_values: torch.Tensor) -> torch.Tensor:
    """``Q(s, a) = (1/N) sum_i lambda_i(s, a)``: (n, A, N) -> (n, A). MTRec sec. 4.2.2."""
    return quantile_values.mean(dim=-1)


def soft_value(q: torch.Tensor, temperature: float, *, dim: int = 1) -> torch.Tensor:
    """``V(s) = T logsumexp_a(Q(s, a) / T)`` over the action axis ``dim``."""
    return temperature * torch.logsumexp(q / temperature, dim=dim)

"""CTR backbones on one shared input: (user, history, history categories, item, category).

Every backbone maps the batch to a click logit of shape (n,). Small faithful versions of:

* Wide&Deep (Cheng et al., 2016): a wide linear part on the sparse ids and a deep MLP;
* DeepFM (Guo et al., 2017): first-order + FM second-order interactions of the field
  embeddings + a deep MLP on the same embeddings;
* PNN (Qu et al., 2016): inner products of field embeddings (IPNN) fed with them to an MLP;
* DIN (Zhou et al., 2018): attention of the history on the candidate through an MLP on
  (h, c, h - c, h * c), no softmax (the paper's activation unit), then an MLP;
* DIEN (Zhou et al., 2019): a GRU interest extractor, then an attention-gated GRU (AUGRU)
  whose update gate is scaled by the candidate's attention; no auxiliary loss;
* SASRec (Kang and McAuley, 2018): causal self-attention over the history with position
  embeddings; the last position's output meets the candidate in an MLP.

Fields: user, item, category, and the mean-pooled history (items + categories).
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Fields(nn.Module):
    """Embeddings shared by the backbones."""

    def __init__(self, num_users: int, num_items: int, num_categories: int, dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim, padding_idx=0)
        self.category = nn.Embedding(num_categories, dim, padding_idx=0)
        for table in (self.user, self.item, self.category):
            nn.init.normal_(table.weight, std=0.05)

    def items(self, item, category):
        return self.item(item) + self.category(category)

    def history(self, history, history_category):
        mask = (history > 0).unsqueeze(-1).float()
        vectors = self.items(history, history_category) * mask
        return vectors, mask

    def pooled(self, history, history_category):
        vectors, mask = self.history(history, history_category)
        return vectors.sum(1) / mask.sum(1).clamp(min=1.0)

    def fields(self, user, history, history_category, item, category) -> torch.Tensor:
        """(n, 4, d): user, item, category, mean history."""
        return torch.stack([self.user(user), self.item(item), self.category(category),
                            self.pooled(history, history_category)], dim=1)


class WideDeep(nn.Module):
    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64):
        super().__init__()
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        self.wide_user = nn.Embedding(num_users, 1)
        self.wide_item = nn.Embedding(num_items, 1)
        self.wide_category = nn.Embedding(num_categories, 1)
        for table in (self.wide_user, self.wide_item, self.wide_category):
            nn.init.zeros_(table.weight)
        self.deep = mlp([4 * dim, hidden, hidden, 1])

    def forward(self, user, history, history_category, item, category):
        fields = self.emb.fields(user, history, history_category, item, category)
        wide = (self.wide_user(user) + self.wide_item(item) + self.wide_category(category))
        return (wide + self.deep(fields.flatten(1))).squeeze(-1)


class DeepFM(nn.Module):
    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64):
        super().__init__()
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        self.first_item = nn.Embedding(num_items, 1)
        self.first_category = nn.Embedding(num_categories, 1)
        nn.init.zeros_(self.first_item.weight)
        nn.init.zeros_(self.first_category.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        self.deep = mlp([4 * dim, hidden, hidden, 1])

    def forward(self, user, history, history_category, item, category):
        fields = self.emb.fields(user, history, history_category, item, category)
        square_of_sum = fields.sum(1).pow(2)
        sum_of_square = fields.pow(2).sum(1)
        fm = 0.5 * (square_of_sum - sum_of_square).sum(-1, keepdim=True)
        first = self.first_item(item) + self.first_category(category)
        return (self.bias + first + fm + self.deep(fields.flatten(1))).squeeze(-1)


class PNN(nn.Module):
    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64):
        super().__init__()
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        pairs = 4 * 3 // 2
        self.register_buffer("rows", torch.triu_indices(4, 4, 1)[0])
        self.register_buffer("cols", torch.triu_indices(4, 4, 1)[1])
        self.deep = mlp([4 * dim + pairs, hidden, hidden, 1])

    def forward(self, user, history, history_category, item, category):
        fields = self.emb.fields(user, history, history_category, item, category)
        products = (fields[:, self.rows] * fields[:, self.cols]).sum(-1)
        return self.deep(torch.cat([fields.flatten(1), products], dim=1)).squeeze(-1)


class DIN(nn.Module):
    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64):
        super().__init__()
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        self.attention = mlp([4 * dim, 32, 1])
        self.deep = mlp([4 * dim, hidden, hidden // 2, 1])

    def forward(self, user, history, history_category, item, category):
        vectors, mask = self.emb.history(history, history_category)
        candidate = self.emb.items(item, category)
        c = candidate.unsqueeze(1).expand_as(vectors)
        weights = self.attention(torch.cat([vectors, c, vectors - c, vectors * c], -1)) * mask
        interest = (weights * vectors).sum(1)
        user_vector = self.emb.user(user)
        x = torch.cat([user_vector, interest, candidate, interest * candidate], dim=-1)
        return self.deep(x).squeeze(-1)


class SASRec(nn.Module):
    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64, max_length=50,
                 heads=2):
        super().__init__()
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        self.position = nn.Embedding(max_length, dim)
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim,
                                                dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.heads = heads
        self.deep = mlp([4 * dim, hidden, 1])

    def forward(self, user, history, history_category, item, category):
        vectors, mask = self.emb.history(history, history_category)
        length = history.shape[1]
        positions = torch.arange(length, device=history.device)
        x = vectors + self.position(positions.clamp(max=self.position.num_embeddings - 1))
        # Causal mask plus padded keys; every query may attend to itself, so no row is
        # fully masked (histories are left-padded).
        blocked = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), diagonal=1)
        blocked = blocked.unsqueeze(0) | (history == 0).unsqueeze(1)
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=x.device).unsqueeze(0)
        mask = torch.zeros(blocked.shape, dtype=x.dtype, device=x.device).masked_fill(blocked, -1e9)
        mask = mask.repeat_interleave(self.heads, dim=0)
        out = self.layer(x, src_mask=mask)
        all_pad = (history == 0).all(1)
        sequence = self.norm(out[:, -1]) * (~all_pad).unsqueeze(-1).float()
        candidate = self.emb.items(item, category)
        user_vector = self.emb.user(user)
        x = torch.cat([user_vector, sequence, candidate, sequence * candidate], dim=-1)
        return self.deep(x).squeeze(-1)


class DIEN(nn.Module):
    """Interest extractor GRU, then an attention-gated GRU (AUGRU) driven by the candidate.

    With the auxiliary loss of DIEN (Zhou et al., AAAI 2019, Eq. 6): in training, the
    interest state after history step t must tell the item of step t + 1 from a random item
    (binary log-loss on dot products), which gives the extractor GRU direct supervision.
    ``forward`` leaves it in ``auxiliary_loss``; the trainer adds
    ``auxiliary_weight * auxiliary_loss`` (the paper's alpha, 1 by default; 0 turns it off).
    """

    def __init__(self, num_users, num_items, num_categories, dim=16, hidden=64,
                 auxiliary_weight: float = 1.0):
        super().__init__()
        self.auxiliary_weight = auxiliary_weight
        self.auxiliary_loss: torch.Tensor | None = None
        self.emb = _Fields(num_users, num_items, num_categories, dim)
        self.extractor = nn.GRU(dim, dim, batch_first=True)
        self.attention = mlp([4 * dim, 32, 1])
        self.update = nn.Linear(2 * dim, dim)
        self.reset = nn.Linear(2 * dim, dim)
        self.candidate_state = nn.Linear(2 * dim, dim)
        self.deep = mlp([4 * dim, hidden, hidden // 2, 1])

    def forward(self, user, history, history_category, item, category):
        vectors, mask = self.emb.history(history, history_category)
        interests, _ = self.extractor(vectors)
        interests = interests * mask
        if self.training and self.auxiliary_weight > 0:
            self.auxiliary_loss = self._auxiliary(interests, history, mask)
        candidate = self.emb.items(item, category)
        c = candidate.unsqueeze(1).expand_as(interests)
        scores = self.attention(torch.cat([interests, c, interests - c, interests * c], -1))
        scores = scores.squeeze(-1).masked_fill(mask.squeeze(-1) == 0, -1e9)
        weights = torch.softmax(scores, dim=1) * mask.squeeze(-1)
        state = torch.zeros_like(candidate)
        for t in range(history.shape[1]):
            x = torch.cat([interests[:, t], state], dim=-1)
            update = torch.sigmoid(self.update(x)) * weights[:, t:t + 1]
            reset = torch.sigmoid(self.reset(x))
            proposal = torch.tanh(self.candidate_state(
                torch.cat([interests[:, t], reset * state], dim=-1)))
            state = (1 - update) * state + update * proposal
        user_vector = self.emb.user(user)
        x = torch.cat([user_vector, state, candidate, state * candidate], dim=-1)
        return self.deep(x).squeeze(-1)

    def _auxiliary(self, interests, history, mask) -> torch.Tensor:
        """Next-behaviour loss over consecutive real history steps (negatives: random items)."""
        valid = (mask[:, :-1, 0] * mask[:, 1:, 0]) > 0
        num_items = self.emb.item.num_embeddings
        if not bool(valid.any()) or num_items < 2:
            return interests.new_zeros(())
        state = interests[:, :-1][valid]
        positive = self.emb.item(history[:, 1:][valid])
        negative = self.emb.item(torch.randint(1, num_items, (state.shape[0],), device=state.device))
        return -(nn.functional.logsigmoid((state * positive).sum(-1))
                 + nn.functional.logsigmoid(-(state * negative).sum(-1))).mean()


#: name -> backbone class; each takes (num_users, num_items, num_categories, dim, hidden).
BACKBONES: dict[str, type[nn.Module]] = {
    "wide_deep": WideDeep,
    "deepfm": DeepFM,
    "pnn": PNN,
    "din": DIN,
    "dien": DIEN,
    "sasrec": SASRec,
}

"""Logging policies: uniform; a softmax over scores mixed with uniform exploration; and an
epsilon-greedy ridge-regression bandit refitted on its own logs."""

from __future__ import annotations

import numpy as np

from offline_rl.simulators.rounds import Rounds


class UniformPolicy:
    """Uniform over each round's candidate set: ``P(a | x) = 1 / K_t``."""

    def __call__(self, rounds: Rounds) -> np.ndarray:
        return rounds.mask / rounds.num_candidates[:, None].astype(np.float64)


class SoftmaxPolicy:
    """``P = (1 - epsilon) * softmax(score / temperature) + epsilon / K_t`` over the candidates.

    ``score_fn(rounds) -> float (n, K_max)`` scores each candidate; padding is ignored. Every
    candidate gets at least ``epsilon / K_t``.
    """

    def __init__(self, score_fn, *, temperature: float = 1.0, epsilon: float = 0.0) -> None:
        if not temperature > 0:
            raise ValueError(f"The 'temperature' must be > 0; got {temperature!r}.")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"The 'epsilon' must be in [0, 1]; got {epsilon!r}.")
        self.score_fn = score_fn
        self.temperature = temperature
        self.epsilon = epsilon

    def __call__(self, rounds: Rounds) -> np.ndarray:
        mask = rounds.mask
        scores = np.asarray(self.score_fn(rounds), dtype=np.float64) / self.temperature
        return mix_with_uniform(masked_softmax(scores, mask), mask, self.epsilon)


def masked_softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` over the True entries of ``mask`` (0 elsewhere)."""
    scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.where(mask, np.exp(scores), 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def mix_with_uniform(probs: np.ndarray, mask: np.ndarray, epsilon: float) -> np.ndarray:
    """``(1 - epsilon) * probs + epsilon * uniform`` over each row's candidates."""
    uniform = mask / mask.sum(axis=1, keepdims=True)
    return (1.0 - epsilon) * probs + epsilon * uniform


class RidgeRewardBandit:
    """An epsilon-greedy contextual bandit on a ridge regression of a logged reward (numpy only).

    The production system a recommender team would run: a linear model of the reward it was
    told to maximise, refitted on everything logged so far, shown greedily with uniform
    exploration, ``P(a | x) = (1 - epsilon) 1[a = argmax_b f(x, b)] + epsilon / K_t``.

    The reward model is ``f(x, a) = w . phi(x, a)`` with the features
    ``phi(x, a) = [1, x, g_a, vec(x g_a^T), onehot(a)]``: the context ``x``, the item's
    published features ``g_a``, their products (so a user-taste by item-embedding match is
    linear in ``phi``) and a per-item intercept. :meth:`fit` solves the ridge regression
    ``(Phi^T Phi + ridge I) w = Phi^T y`` in closed form (every coefficient penalised alike).
    Before its first :meth:`fit` the bandit explores uniformly.

    Parameters
    ----------
    item_features : float (n_items, F)
        The actions table's features, row = action id.
    epsilon : float
        Uniform exploration share, in [0, 1].
    ridge : float
        The L2 penalty (> 0).
    """

    def __init__(self, item_features: np.ndarray, *, epsilon: float, ridge: float = 1.0) -> None:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"The 'epsilon' must be in [0, 1]; got {epsilon!r}.")
        if not ridge > 0:
            raise ValueError(f"The 'ridge' must be > 0; got {ridge!r}.")
        self.item_features = np.asarray(item_features, dtype=np.float64)
        self.epsilon = epsilon
        self.ridge = ridge
        self.coef_: np.ndarray | None = None

    def _split(self, coef: np.ndarray, d: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        f = self.item_features.shape[1]
        parts = np.split(coef, np.cumsum([1, d, f, d * f]))
        return float(parts[0][0]), parts[1], parts[2], parts[3].reshape(d, f), parts[4]

    def features(self, context: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``phi(x_t, a_t)`` of each row: float64 (n, 1 + d + F + d F + n_items)."""
        context = np.asarray(context, dtype=np.float64)
        items = self.item_features[np.asarray(actions, dtype=np.int64)]
        n = context.shape[0]
        onehot = np.zeros((n, self.item_features.shape[0]))
        onehot[np.arange(n), actions] = 1.0
        cross = (context[:, :, None] * items[:, None, :]).reshape(n, -1)
        return np.hstack([np.ones((n, 1)), context, items, cross, onehot])

    def fit(self, context: np.ndarray, actions: np.ndarray, reward: np.ndarray) -> RidgeRewardBandit:
        """Refit the reward model on logged ``(x_t, a_t, y_t)``; returns self."""
        phi = self.features(context, actions)
        gram = phi.T @ phi + self.ridge * np.eye(phi.shape[1])
        self.coef_ = np.linalg.solve(gram, phi.T @ np.asarray(reward, dtype=np.float64))
        return self

    def predict(self, rounds: Rounds) -> np.ndarray:
        """``f(x, a)`` of every candidate, float (n, K_max) (padding: -inf)."""
        if self.coef_ is None:
            return np.where(rounds.mask, 0.0, -np.inf)
        context = np.asarray(rounds.context, dtype=np.float64)
        bias, w_x, w_g, w_cross, w_item = self._split(self.coef_, context.shape[1])
        candidates = np.where(rounds.mask, rounds.candidate_actions, 0)
        items = self.item_features[candidates]  # (n, K, F)
        scores = bias + (context @ w_x)[:, None] + items @ w_g + np.einsum("nkf,nf->nk", items, context @ w_cross)
        scores = scores + w_item[candidates]
        return np.where(rounds.mask, scores, -np.inf)

    def __call__(self, rounds: Rounds) -> np.ndarray:
        mask = rounds.mask
        if self.coef_ is None:
            return mask / rounds.num_candidates[:, None].astype(np.float64)
        greedy = np.zeros(mask.shape)
        greedy[np.arange(len(rounds)), np.argmax(self.predict(rounds), axis=1)] = 1.0
        return mix_with_uniform(greedy, mask, self.epsilon)

"""Logging policies: uniform, and a softmax over scores mixed with uniform exploration."""

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

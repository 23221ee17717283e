"""Three-state latent rewards from a noisy score (the production and news simulators)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, overflow-safe."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def three_state_reward(score: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``+1`` where ``score > upper``, ``-1`` where ``score < lower``, else ``0`` (float64)."""
    return (score > upper).astype(np.float64) - (score < lower).astype(np.float64)


def three_state_probabilities(
    mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, noise_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P(r = -1), P(r = 0), P(r = +1))`` when ``score = mean + Logistic(0, noise_scale)``."""
    p_negative = sigmoid((lower - mean) / noise_scale)
    p_positive = 1.0 - sigmoid((upper - mean) / noise_scale)
    return p_negative, 1.0 - p_negative - p_positive, p_positive

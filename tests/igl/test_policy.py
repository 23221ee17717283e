"""Exploration rules over masked candidate sets."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.igl.policy import exploration_probabilities

SCORES = np.array([[0.1, 0.9, 0.5, 0.0], [1.0, 0.2, 0.0, 0.0]])
MASK = np.array([[True, True, True, True], [True, True, False, False]])


@pytest.mark.parametrize("rule", ["greedy", "epsilon_greedy", "squarecb"])
def test_rows_sum_to_one_and_padding_is_zero(rule):
    probs = exploration_probabilities(SCORES, MASK, rule=rule, epsilon=0.2, gamma=10.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[~MASK] == 0).all()
    assert probs[0].argmax() == 1 and probs[1].argmax() == 0


def test_epsilon_greedy_values():
    probs = exploration_probabilities(SCORES, MASK, rule="epsilon_greedy", epsilon=0.2)
    np.testing.assert_allclose(probs[0], [0.05, 0.85, 0.05, 0.05])
    np.testing.assert_allclose(probs[1, :2], [0.9, 0.1])


def test_squarecb_values():
    probs = exploration_probabilities(SCORES, MASK, rule="squarecb", gamma=10.0)
    # p(a) = 1 / (K + gamma * (f* - f(a))) for a != a*
    np.testing.assert_allclose(probs[0, 0], 1 / (4 + 10 * 0.8))
    np.testing.assert_allclose(probs[0, 2], 1 / (4 + 10 * 0.4))
    np.testing.assert_allclose(probs[1, 1], 1 / (2 + 10 * 0.8))


def test_unknown_rule():
    with pytest.raises(ValueError, match="Got 'ucb'"):
        exploration_probabilities(SCORES, MASK, rule="ucb")

"""QR-IQL objective on hand-computed values (MTRec Problem 6, Algorithm 1)."""

from __future__ import annotations

import math

import pytest
import torch

from offline_rl.qriql.network import q_values, soft_value
from offline_rl.qriql.objective import (
    iq_learn_loss,
    mental_reward,
    pinball,
    psi,
    qriql_loss,
    quantile_huber,
    quantile_levels,
)


def test_psi_hand_values():
    x = torch.tensor([0.0, 1.0, 2.0, -1.0])
    # psi(x) = x - x^2 / (4 alpha), alpha = 0.5 -> x - x^2 / 2
    assert torch.allclose(psi(x, 0.5), torch.tensor([0.0, 0.5, 0.0, -1.5]))
    assert psi(torch.tensor(2.0), 1.0).item() == pytest.approx(1.0)


def test_pinball_hand_values():
    tau = torch.tensor(0.25)
    assert pinball(torch.tensor(2.0), tau).item() == pytest.approx(0.5)
    assert pinball(torch.tensor(-2.0), tau).item() == pytest.approx(1.5)
    assert pinball(torch.tensor(0.0), tau).item() == 0.0


def test_quantile_levels_are_midpoints():
    assert torch.allclose(quantile_levels(4), torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert quantile_levels(1).tolist() == [0.5]


def test_quantile_huber_tends_to_pinball_and_is_quadratic_near_zero():
    u = torch.tensor([-3.0, -0.1, 0.1, 3.0])
    tau = torch.tensor(0.3)
    assert torch.allclose(quantile_huber(u, tau, 0.0), pinball(u, tau))
    assert torch.allclose(quantile_huber(u, tau, 1e-6), pinball(u, tau), atol=1e-5)
    # inside |u| <= kappa: |tau - 1{u<0}| * u^2 / (2 kappa)
    assert quantile_huber(torch.tensor(0.1), tau, 1.0).item() == pytest.approx(0.3 * 0.005)


def test_soft_value_and_q_values():
    q = torch.tensor([[0.0, math.log(3.0)]])
    assert soft_value(q, 1.0).item() == pytest.approx(math.log(4.0))
    # temperature T: T logsumexp(Q / T)
    assert soft_value(q, 2.0).item() == pytest.approx(2 * math.log(1 + 3 ** 0.5), rel=1e-6)
    lam = torch.tensor([[[1.0, 3.0], [0.0, 2.0]]])
    assert q_values(lam).tolist() == [[2.0, 1.0]]


def test_iq_learn_loss_hand_computed():
    q = torch.tensor([[0.0, math.log(3.0)]])
    q_next = torch.tensor([[0.0, 0.0]])
    actions = torch.tensor([1])
    done = torch.tensor([False])
    parts = iq_learn_loss(q, actions, q_next, done, gamma=0.5, alpha=0.5)
    u1 = math.log(3.0) - math.log(4.0)
    u2 = (math.log(3.0) - 0.5 * math.log(2.0)) ** 2 / 2.0
    assert parts.loss.item() == pytest.approx(-u1 + u2, rel=1e-6)
    # at a done step V(s') = 0
    parts = iq_learn_loss(q, actions, q_next, torch.tensor([True]), gamma=0.5, alpha=0.5)
    assert parts.loss.item() == pytest.approx(-u1 + math.log(3.0) ** 2 / 2.0, rel=1e-6)


def test_n1_qriql_equals_iq_learn():
    torch.manual_seed(0)
    lam, lam_next = torch.randn(64, 2, 1), torch.randn(64, 2, 1)
    actions = torch.randint(0, 2, (64,))
    done = torch.rand(64) < 0.3
    quantile = qriql_loss(lam, actions, lam_next, done, gamma=0.9, alpha=0.5, temperature=0.7)
    plain = iq_learn_loss(lam[..., 0], actions, lam_next[..., 0], done, gamma=0.9, alpha=0.5,
                          temperature=0.7)
    assert quantile.loss.item() == pytest.approx(plain.loss.item(), rel=1e-6)


def test_qriql_loss_weights_terms_by_quantile_level():
    # N = 2, one sample: loss = (2/N) sum_i [(1 - tau_i)(-u1_i) + tau_i u2_i] / 1
    lam = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # both actions equal -> u1_i = -log 2
    lam_next = torch.zeros(1, 2, 2)
    parts = qriql_loss(lam, torch.tensor([0]), lam_next, torch.tensor([True]), gamma=0.9,
                       alpha=0.5)
    u1 = -math.log(2.0)
    u2 = [0.0, 1.0 / 2.0]  # (lambda_i - 0)^2 / (4 * 0.5)
    taus = [0.25, 0.75]
    expected = (2 / 2) * sum((1 - t) * (-u1) + t * v for t, v in zip(taus, u2, strict=True))
    assert parts.loss.item() == pytest.approx(expected, rel=1e-6)


def test_mental_reward_eq7_and_terminal_zero():
    lam = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[1.0, 3.0], [0.0, 0.0]]])
    lam_next = torch.zeros(2, 2, 2)
    done = torch.tensor([False, True])
    reward, quantiles = mental_reward(lam, lam_next, done, gamma=0.5)
    v_next = math.log(2.0)  # logsumexp of Q(s', .) = (0, 0)
    assert reward[0].tolist() == pytest.approx([2.0 - 0.5 * v_next, -0.5 * v_next])
    assert reward[1].tolist() == pytest.approx([2.0, 0.0])
    assert quantiles[0, 0].tolist() == pytest.approx([1.0 - 0.5 * v_next, 3.0 - 0.5 * v_next])
    # learned absorbing value replaces 0 at done steps
    reward, _ = mental_reward(lam, lam_next, done, gamma=0.5,
                              terminal_value=torch.tensor([2.0, 2.0]))
    assert reward[1].tolist() == pytest.approx([1.0, -1.0])

"""QR-IQL objective on hand-computed values (MTRec Problem 6, Algorithm 1)."""

from __future__ import annotations

import math

import numpy as np
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


# ------------------------------------------------------------- against independent references
# numpy re-implementations of Problem 6 / Algorithm 1 / Eq. 7, on random asymmetric inputs with
# N > 1, T != 1, gamma != alpha, some done steps: a swapped sign, a dropped term, a wrong tau or
# a detached V(s') in objective.py makes at least one of these fail.
def _random_batch(seed: int, n: int = 7, actions: int = 3, quantiles: int = 4):
    generator = torch.Generator().manual_seed(seed)
    lam = torch.randn(n, actions, quantiles, generator=generator, dtype=torch.float64) * 1.5
    lam_next = torch.randn(n, actions, quantiles, generator=generator, dtype=torch.float64)
    chosen = torch.randint(0, actions, (n,), generator=generator)
    done = torch.tensor([i % 3 == 1 for i in range(n)])
    return lam, lam_next, chosen, done


def _np_pinball(u: float, tau: float) -> float:
    return tau * u if u >= 0 else (tau - 1.0) * u


def _np_qriql_loss(lam, lam_next, chosen, done, *, gamma, alpha, temperature, terminal=None):
    n, _, quantiles = lam.shape
    total = 0.0
    for row in range(n):
        for i in range(quantiles):
            tau = (2 * (i + 1) - 1) / (2 * quantiles)
            value = temperature * np.log(np.exp(lam[row, :, i] / temperature).sum())
            if done[row]:
                next_value = 0.0 if terminal is None else terminal[i]
            else:
                next_value = temperature * np.log(np.exp(lam_next[row, :, i] / temperature).sum())
            q = lam[row, chosen[row], i]
            u1 = q - value
            u2 = (q - gamma * next_value) ** 2 / (4 * alpha)
            total += _np_pinball(u1, tau) + _np_pinball(u2, tau)
    # Algorithm 1's sum over heads, scaled by 2/N, averaged over the batch
    return 2.0 / quantiles * total / n


def test_soft_value_against_numpy():
    q = np.array([[0.3, -1.2, 2.0], [5.0, 5.0, -3.0]])
    for temperature in (1.0, 0.5, 3.0):
        got = soft_value(torch.from_numpy(q), temperature).numpy()
        expected = temperature * np.log(np.exp(q / temperature).sum(axis=1))
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pinball_both_sides_against_numpy():
    u = torch.tensor([-2.5, -0.1, 0.0, 0.4, 3.0], dtype=torch.float64)
    for tau in (0.1, 0.5, 0.8):
        got = pinball(u, torch.tensor(tau, dtype=torch.float64)).tolist()
        assert got == pytest.approx([_np_pinball(x, tau) for x in u.tolist()])
    # strictly positive off zero, asymmetric: under-estimates cost (1 - tau), over tau
    assert pinball(torch.tensor(-1.0), torch.tensor(0.2)).item() == pytest.approx(0.8)
    assert pinball(torch.tensor(1.0), torch.tensor(0.2)).item() == pytest.approx(0.2)


@pytest.mark.parametrize("kappa", [0.5, 2.0])
def test_quantile_huber_against_numpy(kappa):
    u = np.array([-3.0, -0.3, 0.2, 0.5, 4.0])
    tau = 0.3
    got = quantile_huber(torch.from_numpy(u), torch.tensor(tau, dtype=torch.float64), kappa)
    huber = np.where(np.abs(u) <= kappa, 0.5 * u ** 2, kappa * (np.abs(u) - 0.5 * kappa))
    expected = np.abs(tau - (u < 0)) * huber / kappa
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_qriql_loss_against_numpy_reference(seed):
    lam, lam_next, chosen, done = _random_batch(seed)
    settings = dict(gamma=0.8, alpha=0.3, temperature=0.7)
    got = qriql_loss(lam, chosen, lam_next, done, **settings)
    expected = _np_qriql_loss(lam.numpy(), lam_next.numpy(), chosen.numpy(), done.numpy(),
                              **settings)
    assert got.loss.item() == pytest.approx(expected, rel=1e-10)
    terminal = torch.tensor([0.5, -1.0, 2.0, 0.1], dtype=torch.float64)
    got = qriql_loss(lam, chosen, lam_next, done, terminal_value=terminal, **settings)
    expected = _np_qriql_loss(lam.numpy(), lam_next.numpy(), chosen.numpy(), done.numpy(),
                              terminal=terminal.numpy(), **settings)
    assert got.loss.item() == pytest.approx(expected, rel=1e-10)


def test_iq_learn_loss_against_numpy_reference():
    lam, lam_next, chosen, done = _random_batch(2, quantiles=1)
    settings = dict(gamma=0.6, alpha=0.8, temperature=1.3)
    got = iq_learn_loss(lam[..., 0], chosen, lam_next[..., 0], done, **settings)
    # N = 1: tau = 1/2 and the 2/N scale make the pinball form exactly -u1 + u2
    expected = _np_qriql_loss(lam.numpy(), lam_next.numpy(), chosen.numpy(), done.numpy(),
                              **settings)
    assert got.loss.item() == pytest.approx(expected, rel=1e-10)
    q = lam[..., 0].numpy()
    v = 1.3 * np.log(np.exp(q / 1.3).sum(axis=1))
    assert got.u1.item() == pytest.approx(np.mean(q[np.arange(7), chosen.numpy()] - v))


def _reference_loss_torch(lam, lam_next, chosen, done, *, gamma, alpha, temperature):
    """The same loss written independently in torch (nothing detached), for gradients."""
    n, _, quantiles = lam.shape
    tau = (2 * torch.arange(1, quantiles + 1, dtype=lam.dtype) - 1) / (2 * quantiles)
    q = lam[torch.arange(n), chosen]                                     # (n, N)
    value = temperature * torch.logsumexp(lam / temperature, dim=1)      # (n, N)
    next_value = temperature * torch.logsumexp(lam_next / temperature, dim=1)
    next_value = next_value * (~done).unsqueeze(1)
    u1 = q - value
    u2 = (q - gamma * next_value) ** 2 / (4 * alpha)
    return 2.0 * ((1 - tau) * (-u1) + tau * u2).mean()


@pytest.mark.parametrize("quantiles", [1, 3])
def test_loss_gradients_reach_both_states(quantiles):
    """d loss / d lambda(s') is not zero: V(s') is not a fixed target (no detach, Problem 6)."""
    lam, lam_next, chosen, done = _random_batch(3, quantiles=quantiles)
    lam.requires_grad_(True)
    lam_next.requires_grad_(True)
    settings = dict(gamma=0.9, alpha=0.5, temperature=0.8)
    if quantiles == 1:
        loss = iq_learn_loss(lam[..., 0], chosen, lam_next[..., 0], done, **settings).loss
    else:
        loss = qriql_loss(lam, chosen, lam_next, done, **settings).loss
    got = torch.autograd.grad(loss, (lam, lam_next))
    reference = _reference_loss_torch(lam, lam_next, chosen, done, **settings)
    expected = torch.autograd.grad(reference, (lam, lam_next))
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])
    assert got[1][~done].abs().sum() > 0 and got[1][done].abs().sum() == 0


def test_mental_reward_against_numpy_reference():
    lam, lam_next, _, done = _random_batch(4)
    reward, quantiles = mental_reward(lam, lam_next, done, gamma=0.7, temperature=0.5)
    q = lam.numpy().mean(axis=2)
    v_next = 0.5 * np.log(np.exp(lam_next.numpy().mean(axis=2) / 0.5).sum(axis=1))
    v_next = np.where(done.numpy(), 0.0, v_next)
    np.testing.assert_allclose(reward.numpy(), q - 0.7 * v_next[:, None], rtol=1e-12)
    v_i = 0.5 * np.log(np.exp(lam_next.numpy() / 0.5).sum(axis=1))  # (n, N)
    v_i = np.where(done.numpy()[:, None], 0.0, v_i)
    np.testing.assert_allclose(quantiles.numpy(), lam.numpy() - 0.7 * v_i[:, None, :],
                               rtol=1e-12)


def test_loss_parts_report_the_mean_terms():
    """LossParts.u1 / u2 are the batch means of Q - V(s) and (Q - gamma V(s'))^2 / (4 alpha)."""
    lam, lam_next, chosen, done = _random_batch(5)
    q = lam.numpy()[np.arange(7), chosen.numpy()]                       # (n, N)
    value = np.log(np.exp(lam.numpy()).sum(axis=1))                     # T = 1
    next_value = np.where(done.numpy()[:, None], 0.0,
                          np.log(np.exp(lam_next.numpy()).sum(axis=1)))
    parts = qriql_loss(lam, chosen, lam_next, done, gamma=0.5, alpha=0.25)
    assert parts.u1.item() == pytest.approx(np.mean(q - value))
    assert parts.u2.item() == pytest.approx(np.mean((q - 0.5 * next_value) ** 2))
    single = iq_learn_loss(lam[..., 0], chosen, lam_next[..., 0], done, gamma=0.5, alpha=0.25)
    assert single.u2.item() == pytest.approx(np.mean((q[:, 0] - 0.5 * next_value[:, 0]) ** 2))


def test_learned_terminal_value_replaces_zero_in_every_form():
    lam, lam_next, chosen, done = _random_batch(6, quantiles=2)
    terminal = torch.tensor([1.5, -0.5], dtype=torch.float64)
    # IQ-Learn with a scalar absorbing value
    got = iq_learn_loss(lam[..., 0], chosen, lam_next[..., 0], done, gamma=0.8, alpha=0.5,
                        terminal_value=terminal[0])
    expected = _np_qriql_loss(lam[..., :1].numpy(), lam_next[..., :1].numpy(), chosen.numpy(),
                              done.numpy(), gamma=0.8, alpha=0.5, temperature=1.0,
                              terminal=terminal[:1].numpy())
    assert got.loss.item() == pytest.approx(expected, rel=1e-10)
    # quantile rewards: V_i of the absorbing state at done steps
    _, quantiles = mental_reward(lam, lam_next, done, gamma=0.8, terminal_value=terminal)
    expected_q = lam.numpy()[done.numpy()] - 0.8 * terminal.numpy()[None, None, :]
    np.testing.assert_allclose(quantiles.numpy()[done.numpy()], expected_q, rtol=1e-12)

"""The offline IQ-Learn chi^2 objective and its per-quantile (pinball) form, QR-IQL.

Offline IQ-Learn with ``psi(x) = x - x^2 / (4 alpha)`` (MTRec Problem 4 -> Problem 6, App. A.1):

.. math::

    \\max_Q \\; E_{\\rho_E}[Q(s,a) - V(s)] - \\frac{1}{4\\alpha} E_{\\rho_E}[(Q(s,a) - \\gamma V(s'))^2],

with ``V(s') = 0`` at terminal steps. We minimise its negative, ``-u1 + u2`` with

.. math::

    u^1 = Q(s,a) - V(s) \\le 0, \\qquad u^2 = \\frac{1}{4\\alpha}(Q(s,a) - \\gamma V(s'))^2 \\ge 0.

QR-IQL (Appendix A.2, Algorithm 1) computes ``u1_i``, ``u2_i`` per quantile head ``lambda_i``
(with ``V_i(s) = T logsumexp_a lambda_i(s, a) / T``) and minimises
``sum_i [p_{tau_i}(u1_i) + p_{tau_i}(u2_i)]`` with the pinball loss
``p_tau(u) = tau u`` (u >= 0), ``(tau - 1) u`` (u < 0) at the midpoint levels
``tau_i = (2i - 1) / (2N)``. Since ``u1 <= 0 <= u2`` this equals
``sum_i [(1 - tau_i)(-u1_i) + tau_i u2_i]``. We scale the sum by ``2 / N`` so that with
``N = 1`` (``tau = 1/2``) the loss is exactly the IQ-Learn loss ``-u1 + u2``.

:func:`qriql_loss` is the one objective the learner trains, evaluates on held-out rows and
reports (``QRIQL.loss``), for every N: with ``N = 1`` and the pinball loss it equals
:func:`iq_learn_loss`; with ``huber_kappa > 0`` it is the quantile-Huber form of it (for
N = 1 as well), which :func:`iq_learn_loss` does not compute.

The paper writes ``u2`` without ``gamma`` (Eq. 14 sets gamma = 1 inside the square); we keep the
``gamma`` of Problem 4 and note it in docs/qriql.md.

References
----------
MTRec (mtrec-paper.txt) Eq. (4), (6), (14), Algorithm 1; Garg et al. (2021) IQ-Learn;
Dabney et al. (2018) QR-DQN (quantile-Huber loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from offline_rl.qriql.network import q_values, soft_value


def psi(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The chi^2 regulariser's concave function ``psi(x) = x - x^2 / (4 alpha)``."""
    return x - x * x / (4.0 * alpha)


def quantile_levels(n: int, *, dtype=torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Midpoint quantile levels ``tau_i = (2i - 1) / (2N)``, i = 1..N."""
    return (2.0 * torch.arange(1, n + 1, dtype=dtype, device=device) - 1.0) / (2.0 * n)


def pinball(u: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``p_tau(u) = tau u`` if ``u >= 0`` else ``(tau - 1) u`` (elementwise, broadcast)."""
    return torch.where(u >= 0, tau * u, (tau - 1.0) * u)


def quantile_huber(u: torch.Tensor, tau: torch.Tensor, kappa: float) -> torch.Tensor:
    """QR-DQN's ``|tau - 1{u < 0}| L_kappa(u) / kappa``; tends to :func:`pinball` as kappa -> 0."""
    if kappa <= 0:
        return pinball(u, tau)
    absolute = u.abs()
    huber = torch.where(absolute <= kappa, 0.5 * u * u, kappa * (absolute - 0.5 * kappa))
    return (tau - (u < 0).to(u.dtype)).abs() * huber / kappa


@dataclass(frozen=True)
class LossParts:
    """The minimised loss and its two terms (means over the batch and the quantiles)."""

    loss: torch.Tensor
    u1: torch.Tensor
    u2: torch.Tensor


def iq_learn_loss(
    q: torch.Tensor,
    actions: torch.Tensor,
    q_next: torch.Tensor,
    done: torch.Tensor,
    *,
    gamma: float,
    alpha: float,
    temperature: float = 1.0,
    terminal_value: torch.Tensor | None = None,
) -> LossParts:
    """Offline IQ-Learn chi^2 loss ``E[-(Q(s,a) - V(s))] + E[(Q(s,a) - gamma V(s'))^2] / (4 alpha)``.

    Parameters
    ----------
    q, q_next : (n, A)
        Q-values of s and s'.
    actions : long (n,)
    done : bool (n,)
        ``V(s') = 0`` where True (or ``terminal_value``, a scalar tensor, when given).
    """
    chosen = q.gather(1, actions.view(-1, 1)).squeeze(1)
    value = soft_value(q, temperature, dim=1)
    next_value = _next_value(soft_value(q_next, temperature, dim=1), done, terminal_value)
    u1 = chosen - value
    u2 = (chosen - gamma * next_value) ** 2 / (4.0 * alpha)
    return LossParts(loss=(-u1 + u2).mean(), u1=u1.mean(), u2=u2.mean())


def qriql_loss(
    quantile_values: torch.Tensor,
    actions: torch.Tensor,
    next_quantile_values: torch.Tensor,
    done: torch.Tensor,
    *,
    gamma: float,
    alpha: float,
    temperature: float = 1.0,
    huber_kappa: float = 0.0,
    terminal_value: torch.Tensor | None = None,
) -> LossParts:
    """QR-IQL loss of Algorithm 1: ``(2/N) sum_i [p_tau_i(u1_i) + p_tau_i(u2_i)]``, batch mean.

    Parameters
    ----------
    quantile_values, next_quantile_values : (n, A, N)
        ``lambda_i(s, a)`` and ``lambda_i(s', a)``.
    actions : long (n,)
    done : bool (n,)
    huber_kappa : float
        0 for the pinball loss; > 0 for the quantile-Huber loss (not in the paper).
    terminal_value : (N,) tensor, optional
        ``V_i`` of the absorbing end-of-session state; 0 when omitted.
    """
    n, _, quantiles = quantile_values.shape
    index = actions.view(-1, 1, 1).expand(n, 1, quantiles)
    chosen = quantile_values.gather(1, index).squeeze(1)  # (n, N)
    value = soft_value(quantile_values, temperature, dim=1)  # (n, N)
    next_value = _next_value(soft_value(next_quantile_values, temperature, dim=1), done,
                             terminal_value)
    u1 = chosen - value
    u2 = (chosen - gamma * next_value) ** 2 / (4.0 * alpha)
    tau = quantile_levels(quantiles, dtype=chosen.dtype, device=chosen.device)
    per_quantile = quantile_huber(u1, tau, huber_kappa) + quantile_huber(u2, tau, huber_kappa)
    loss = 2.0 * per_quantile.mean()
    return LossParts(loss=loss, u1=u1.mean(), u2=u2.mean())


def mental_reward(
    quantile_values: torch.Tensor,
    next_quantile_values: torch.Tensor,
    done: torch.Tensor,
    *,
    gamma: float,
    temperature: float = 1.0,
    terminal_value: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``r*(s, a) = Q(s, a) - gamma V(s')`` for every action a (Eq. 7), and per quantile.

    Returns
    -------
    (reward, reward_quantiles)
        (n, A) with ``Q`` the mean of quantiles and ``V(s') = T logsumexp(Q(s', .)/T)``, and
        (n, A, N) with ``lambda_i(s, a) - gamma V_i(s')``, ``V_i`` the soft value of head i.
        ``V(s') = 0`` at terminal steps (``terminal_value`` (N,) when given: its mean for Q).
    """
    q = q_values(quantile_values)
    terminal_mean = None if terminal_value is None else terminal_value.mean()
    next_value = _next_value(soft_value(q_values(next_quantile_values), temperature, dim=1),
                             done, terminal_mean)
    reward = q - gamma * next_value.unsqueeze(1)
    next_value_i = _next_value(soft_value(next_quantile_values, temperature, dim=1), done,
                               terminal_value)
    reward_quantiles = quantile_values - gamma * next_value_i.unsqueeze(1)
    return reward, reward_quantiles


def _next_value(
    value: torch.Tensor, done: torch.Tensor, terminal_value: torch.Tensor | None
) -> torch.Tensor:
    """``V(s')`` where not done; the absorbing state's value (0 by default) where done."""
    mask = done.view(-1, *([1] * (value.dim() - 1)))
    if terminal_value is None:
        terminal = torch.zeros((), dtype=value.dtype, device=value.device)
    else:
        terminal = terminal_value.to(dtype=value.dtype, device=value.device)
    return torch.where(mask, terminal.expand_as(value), value)

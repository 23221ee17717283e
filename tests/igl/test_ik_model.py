"""The IK and policy networks: the fixed-action-set fast path equals the general path; the
Eq. (2) parametrisation under any action distribution; sparse, prior-shrunk user updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from offline_rl.igl.ik_model import IKNet, shared_candidates
from offline_rl.igl.policy import PolicyNet


def _inputs(n=64, k=5, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    user = torch.randint(0, 10, (n,), generator=g)
    feedback = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, d, generator=g)
    shared = torch.tensor([3, 1, 7, 2, 5])[:k]
    candidates = shared.expand(n, k).clone()
    mask = torch.ones(n, k, dtype=torch.bool)
    return user, feedback, x, candidates, mask


def _ik(use_context=True, *, states=3):
    torch.manual_seed(0)
    net = IKNet(num_users=10, num_feedback=4, num_actions=9, context_dim=6,
                action_features=np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32),
                embedding_dim=2, action_dim=4, hidden_dim=8, context_interaction=True, states=states)
    net.mark_known(np.arange(1, 10), np.arange(1, 4))
    with torch.no_grad():  # informative parameters, not the zero initial biases
        for parameter in net.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    net.use_context = use_context
    return net


@pytest.mark.parametrize("use_context", [True, False])
def test_ik_fast_path_matches_the_general_path(monkeypatch, use_context):
    net = _ik(use_context)
    user, feedback, x, candidates, mask = _inputs()
    assert shared_candidates(candidates) is not None
    fast = net(user, feedback, x, candidates, mask)
    fast.sum().backward()
    fast_grads = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    net.zero_grad()
    monkeypatch.setattr("offline_rl.igl.ik_model.shared_candidates", lambda c: None)
    slow = net(user, feedback, x, candidates, mask)
    slow.sum().backward()
    slow_grads = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    assert len(fast_grads) == len(slow_grads)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_policy_fast_path_matches_the_general_path(monkeypatch):
    torch.manual_seed(0)
    net = PolicyNet(num_users=10, num_actions=9, context_dim=6,
                    action_features=np.zeros((9, 0), dtype=np.float32), action_dim=4,
                    hidden_dim=8, user_dim=2)
    user, _, x, candidates, mask = _inputs()
    mask[:, -1] = False  # padding is masked the same way on both paths
    fast = net(user, x, candidates, mask)
    monkeypatch.setattr("offline_rl.igl.policy.shared_candidates", lambda c: None)
    torch.testing.assert_close(fast, net(user, x, candidates, mask), rtol=1e-5, atol=1e-6)


def test_shared_candidates_detects_varying_sets():
    candidates = torch.tensor([[1, 2, 3], [1, 2, 3]])
    assert shared_candidates(candidates).tolist() == [1, 2, 3]
    assert shared_candidates(torch.tensor([[1, 2, 3], [1, 3, 2]])) is None
    assert shared_candidates(torch.zeros((0, 3), dtype=torch.long)) is None


def _random_prior(mask, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(mask.shape, generator=g).masked_fill(~mask, -1e9)
    return torch.log_softmax(logits, dim=-1)


def test_an_uninformative_signal_gives_the_action_distribution():
    """Eq. (2): where y says nothing about r, P(a | x, y) = P(a | x): under the uniform
    distribution K * P_hat = 1, under a logging distribution P_hat = pi."""
    net = _ik()
    user, feedback, x, candidates, mask = _inputs()
    unknown = torch.zeros_like(feedback)
    uniform = net(user, unknown, x, candidates, mask).exp()
    torch.testing.assert_close(uniform, torch.full_like(uniform, 1 / 5))
    prior = _random_prior(mask)
    torch.testing.assert_close(net(user, unknown, x, candidates, mask, prior), prior)
    # a signal the model never trained on is the unknown signal
    net.known_feedback[2] = False
    two = torch.full_like(feedback, 2)
    torch.testing.assert_close(net(user, two, x, candidates, mask).exp(), uniform)


def test_one_emission_model_gives_bayes_rule_under_any_action_distribution():
    """P_pi(a | x, y) is proportional to pi(a) P(y | a, x) with the same parameters for every
    pi: the ratio P_pi(a | x, y) / pi(a) is the same (up to a row constant) as P_unif / (1/K)."""
    net = _ik()
    user, feedback, x, candidates, mask = _inputs()
    prior = _random_prior(mask, seed=3)
    log_uniform = net(user, feedback, x, candidates, mask)
    log_pi = net(user, feedback, x, candidates, mask, prior)
    ratio_uniform = log_uniform + torch.log(torch.tensor(5.0))
    ratio_pi = log_pi - prior
    centred = (ratio_uniform - ratio_pi) - (ratio_uniform - ratio_pi).mean(-1, keepdim=True)
    torch.testing.assert_close(centred, torch.zeros_like(centred), atol=1e-5, rtol=0)


def test_a_step_moves_only_the_users_of_the_batch():
    """The user deviations are a sparse embedding stepped by SparseAdam: a batch touches its
    own users' rows, whatever the number of users (the cost of a step does not grow with it)."""
    from offline_rl.igl.batch import Batch
    from offline_rl.igl.ik_model import IKTrainer

    torch.manual_seed(0)
    net = IKNet(num_users=1001, num_feedback=4, num_actions=9, context_dim=6,
                action_features=np.zeros((9, 0), dtype=np.float32), embedding_dim=2,
                action_dim=4, hidden_dim=0, context_interaction=False, states=2)
    rng = np.random.default_rng(0)
    n = 64
    batch = Batch(user=rng.integers(1, 4, n), feedback=rng.integers(1, 4, n),
                  context=rng.normal(size=(n, 6)).astype(np.float32),
                  candidates=np.tile(np.arange(1, 6), (n, 1)), mask=np.ones((n, 5), bool),
                  num_candidates=np.full(n, 5), action_index=rng.integers(0, 5, n),
                  weight=np.ones(n, np.float32))
    net.mark_known(batch.user, batch.feedback)
    before = net.users.deviation.weight.detach().clone()
    trainer = IKTrainer(net, batch, batch_size=32, learning_rate=0.05, weight_decay=0.0,
                        prior_precision=3.0, seed=0)
    assert [type(o).__name__ for o in trainer.optimisers] == ["Adam", "SparseAdam"]
    trainer.run_epoch()
    moved = (net.users.deviation.weight.detach() != before).any(dim=1).nonzero().flatten()
    assert moved.tolist() == [1, 2, 3]


def test_the_user_prior_is_paid_once_per_user():
    """Each user's rows carry shares of its prior that sum to one (weighted like the
    likelihood), so the objective holds precision / 2 * |d_u|^2 once per user."""
    from offline_rl.igl.batch import Batch
    from offline_rl.igl.ik_model import user_weight_shares

    rng = np.random.default_rng(1)
    n = 50
    user = rng.integers(1, 6, n)
    weight = rng.uniform(0.2, 3.0, n).astype(np.float32)
    batch = Batch(user=user, feedback=np.ones(n, np.int64), context=np.zeros((n, 0), np.float32),
                  candidates=np.ones((n, 2), np.int64), mask=np.ones((n, 2), bool),
                  num_candidates=np.full(n, 2), action_index=np.zeros(n, np.int64), weight=weight)
    shares = user_weight_shares(batch)
    for u in np.unique(user):
        assert (weight[user == u] * shares[user == u]).sum() == pytest.approx(1.0, rel=1e-5)

"""The IK and policy networks: the fixed-action-set fast path equals the general path."""

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


def _ik(use_context=True):
    torch.manual_seed(0)
    net = IKNet(num_users=10, num_feedback=4, num_actions=9, context_dim=6,
                action_features=np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32),
                embedding_dim=2, action_dim=4, hidden_dim=8, context_interaction=True, states=3)
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

"""Backbone shapes and the alignment-loss classifier (MTRec Eq. 8-10)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.mtrec import BACKBONES, MTRecClassifier, MTRecConfig
from offline_rl.mtrec.classifier import alignment_loss
from offline_rl.simulators.sessions import simulate


@pytest.fixture(scope="module")
def frame():
    sim = simulate(rows=1200, seed=4, n_users=30, n_items=50)
    trajectories = user_trajectories(drop_hidden_reward(pl.from_arrow(sim.logs)))
    return trajectories, dict(enumerate(sim.truth["item_category"]))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_shapes_and_gradients(name):
    torch.manual_seed(0)
    model = BACKBONES[name](7, 9, 4, dim=8, hidden=16)
    history = torch.tensor([[0, 0, 3], [1, 2, 3], [0, 0, 0], [4, 5, 6]])
    logits = model(torch.tensor([1, 2, 3, 0]), history, history % 4, torch.tensor([1, 4, 5, 8]),
                   torch.tensor([1, 2, 3, 1]))
    assert logits.shape == (4,)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_dien_auxiliary_loss_matches_its_definition():
    """DIEN Eq. 6: consecutive real history steps only; positives are the next items."""
    from offline_rl.mtrec.backbones import DIEN

    torch.manual_seed(0)
    model = DIEN(7, 9, 4, dim=8, hidden=16)
    history = torch.tensor([[0, 0, 3, 5], [1, 2, 3, 4]])
    args = (torch.tensor([1, 2]), history, history % 4, torch.tensor([1, 4]), torch.tensor([1, 2]))
    model.eval()
    model(*args)
    assert model.auxiliary_loss is None  # only computed in training
    model.train()
    torch.manual_seed(1)
    model(*args)
    got = model.auxiliary_loss
    # recompute by hand: the interest states, the 4 valid (t, t+1) pairs, the same negatives
    vectors, mask = model.emb.history(history, history % 4)
    interests = model.extractor(vectors)[0] * mask
    pairs = [(0, 2), (1, 0), (1, 1), (1, 2)]
    torch.manual_seed(1)
    negatives = torch.randint(1, 9, (len(pairs),))
    terms = []
    for (row, t), neg in zip(pairs, negatives, strict=True):
        h = interests[row, t]
        pos = model.emb.item(history[row, t + 1])
        terms.append(torch.nn.functional.logsigmoid(h @ pos)
                     + torch.nn.functional.logsigmoid(-(h @ model.emb.item(neg))))
    torch.testing.assert_close(got, -torch.stack(terms).mean())
    got.backward()
    assert model.extractor.weight_ih_l0.grad.abs().sum() > 0


def test_alignment_loss_hand_value():
    prob = torch.tensor([0.25, 0.5])
    positive, negative = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0])
    # -(mean(2*0.25 + 0*0.75, -1*0.5 + 1*0.5)) = -(0.5 + 0) / 2
    assert alignment_loss(prob, positive, negative).item() == pytest.approx(-0.25)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_classifier_fit_predict(frame, name):
    trajectories, categories = frame
    model = MTRecClassifier(MTRecConfig(backbone=name, epochs=1, batch_size=256,
                                        embedding_dim=8, hidden_dim=16))
    assert model.fit(trajectories, item_categories=categories) is model
    probs = model.predict_proba(trajectories)
    assert probs.shape == (trajectories.height,)
    assert ((probs > 0) & (probs < 1)).all()
    assert model.predict_proba(trajectories, untrained=True).shape == probs.shape


def test_alignment_changes_training_and_is_seeded(frame):
    trajectories, categories = frame
    n = trajectories.height
    rng = np.random.default_rng(0)
    rewards = trajectories.select("event_id").with_columns(
        mental_reward_positive=pl.Series(rng.normal(size=n)),
        mental_reward_negative=pl.Series(rng.normal(size=n)),
    )
    config = dict(backbone="din", epochs=1, batch_size=256, embedding_dim=8, hidden_dim=16)
    base = MTRecClassifier(MTRecConfig(**config)).fit(trajectories, item_categories=categories)
    base_again = MTRecClassifier(MTRecConfig(**config)).fit(
        trajectories, rewards=rewards, item_categories=categories)  # kappa = 0 ignores rewards
    aligned = MTRecClassifier(MTRecConfig(**config, kappa=1.0)).fit(
        trajectories, rewards=rewards, item_categories=categories)
    p0, p1, p2 = (m.predict_proba(trajectories) for m in (base, base_again, aligned))
    assert np.array_equal(p0, p1)
    assert not np.allclose(p0, p2)
    assert aligned.reward_scale_ == pytest.approx(
        float(np.std((rewards["mental_reward_positive"] - rewards["mental_reward_negative"])
                     .to_numpy().astype(np.float32))),
        rel=1e-5)


def test_classifier_errors(frame):
    trajectories, _ = frame
    with pytest.raises(ValueError, match="kappa > 0 needs the mental rewards"):
        MTRecClassifier(MTRecConfig(kappa=0.5, epochs=1)).fit(trajectories)
    with pytest.raises(ValueError, match="mental_reward_positive"):
        MTRecClassifier(MTRecConfig(kappa=0.5, epochs=1)).fit(
            trajectories, rewards=trajectories.select("event_id"))


def test_save_load_identical_predictions_with_attention(frame, tmp_path):
    """The contract (tests/test_learner_contract.py) round-trips DIN; SASRec's attention and
    position layers must round-trip too."""
    trajectories, categories = frame
    model = MTRecClassifier(MTRecConfig(backbone="sasrec", epochs=1, batch_size=256,
                                        embedding_dim=8, hidden_dim=16)).fit(
        trajectories, item_categories=categories)
    model.save(tmp_path / "m")
    loaded = MTRecClassifier.load(tmp_path / "m")
    assert loaded.config == model.config
    assert np.array_equal(loaded.predict_proba(trajectories), model.predict_proba(trajectories))
    assert np.array_equal(loaded.predict_proba(trajectories, untrained=True),
                          model.predict_proba(trajectories, untrained=True))
    with pytest.raises(FileNotFoundError):
        MTRecClassifier.load(tmp_path / "missing")


def test_dien_augru_updates_only_where_the_candidate_attends():
    """AUGRU: u'_t = a_t u_t. With all attention on step k the state is one GRU update from 0
    at step k; with none it stays 0 (so the attention, not a plain GRU, carries the interest)."""
    from offline_rl.mtrec.backbones import DIEN

    torch.manual_seed(0)
    model = DIEN(7, 9, 4, dim=8, hidden=16)
    interests = torch.randn(3, 5, 8)
    k = 2
    one_hot = torch.zeros(3, 5)
    one_hot[:, k] = 1.0
    x = torch.cat([interests[:, k], torch.zeros(3, 8)], dim=-1)
    expected = torch.sigmoid(model.update(x)) * torch.tanh(model.candidate_state(x))
    torch.testing.assert_close(model.evolve(interests, one_hot), expected)
    assert torch.equal(model.evolve(interests, torch.zeros(3, 5)), torch.zeros(3, 8))
    # half the attention: the update gate is halved
    half = model.evolve(interests, one_hot * 0.5)
    torch.testing.assert_close(half, 0.5 * torch.sigmoid(model.update(x))
                               * torch.tanh(model.candidate_state(x)))


def test_sasrec_positions_never_read_later_items():
    """SASRec's causal mask: block outputs at positions < t do not change when item t does;
    with two blocks the last position's output depends on it through the earlier positions."""
    from offline_rl.mtrec.backbones import SASRec

    torch.manual_seed(0)
    model = SASRec(7, 12, 4, dim=8, hidden=16).eval()
    history = torch.tensor([[0, 3, 5, 7, 2], [4, 6, 1, 9, 10]])
    changed = history.clone()
    changed[:, -1] = torch.tensor([8, 11])
    before = model.sequence(history, history % 4)
    after = model.sequence(changed, changed % 4)
    torch.testing.assert_close(before[:, :-1], after[:, :-1])
    assert not torch.allclose(before[:, -1], after[:, -1])
    # an earlier item does reach the last position
    earlier = history.clone()
    earlier[:, 2] = torch.tensor([11, 11])
    assert not torch.allclose(model.sequence(earlier, earlier % 4)[:, -1], before[:, -1])

"""The aligned CTR classifier's math: reward join by key, the loss it minimises, its Adam step.

The training-step tests compare the classifier with a hand-built reference on the full batch
(``batch_size >= rows``, one epoch = one Adam step, so the shuffle cannot matter): the first
recorded loss is ``BCE + kappa L_Align`` at the initial weights (Eq. 10) and the step moves every
weight by Adam's first update ``-lr g / (|g| + eps)`` of that loss's gradient ``g``. A swapped
``r*(a^P)``/``r*(a^N)``, the alignment on logits instead of probabilities, a lost scale or a
detached probability each changes one or the other.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from offline_rl.data.amazon import load_amazon
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.mtrec import BACKBONES, MTRecClassifier, MTRecConfig
from offline_rl.mtrec.classifier import aligned_rewards, alignment_loss
from offline_rl.simulators.sessions import simulate

SMALL = dict(embedding_dim=8, hidden_dim=16, epochs=1, batch_size=100_000, weight_decay=0.0)


@pytest.fixture(scope="module")
def frame():
    sim = simulate(rows=600, seed=6, n_users=20, n_items=40)
    trajectories = user_trajectories(drop_hidden_reward(pl.from_arrow(sim.logs)))
    rng = np.random.default_rng(1)
    rewards = trajectories.select("event_id").with_columns(
        mental_reward_positive=pl.Series(rng.normal(1.0, 2.0, trajectories.height)),
        mental_reward_negative=pl.Series(rng.normal(-0.5, 1.0, trajectories.height)),
    )
    return trajectories, rewards, dict(enumerate(sim.truth["item_category"]))


def _inputs(model: MTRecClassifier, frame: pl.DataFrame) -> tuple[list[torch.Tensor], torch.Tensor]:
    data = model.encoder_.encode(frame)
    inputs = [torch.from_numpy(a) for a in (data.user, data.history, data.history_category,
                                            data.item, data.category)]
    return inputs, torch.from_numpy(data.label)


def _reference_loss(model, inputs, labels, positive, negative, *, kappa, scale):
    logits = model(*inputs)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    if getattr(model, "auxiliary_loss", None) is not None:  # DIEN's next-behaviour loss
        loss = loss + model.auxiliary_weight * model.auxiliary_loss
    prob = torch.sigmoid(logits)
    p, n = torch.from_numpy(positive / scale), torch.from_numpy(negative / scale)
    return loss - kappa * (p * prob + n * (1 - prob)).mean()


@pytest.mark.parametrize(("backbone", "kappa", "standardize", "decay"),
                         [("din", 2.0, True, 0.0), ("wide_deep", 0.7, False, 0.0),
                          ("din", 0.0, True, 0.0), ("wide_deep", 0.5, True, 0.3),
                          ("dien", 1.0, True, 0.0)])
def test_first_step_is_adam_on_ce_plus_kappa_alignment(frame, backbone, kappa, standardize,
                                                        decay):
    trajectories, rewards, categories = frame
    config = MTRecConfig(backbone=backbone, kappa=kappa, standardize_rewards=standardize,
                         learning_rate=1e-3, **{**SMALL, "weight_decay": decay})
    model = MTRecClassifier(config).fit(trajectories, rewards=rewards,
                                        item_categories=categories)
    positive = rewards["mental_reward_positive"].to_numpy().astype(np.float32)
    negative = rewards["mental_reward_negative"].to_numpy().astype(np.float32)
    scale = float(np.std(positive - negative)) if standardize and kappa > 0 else 1.0
    assert model.reward_scale_ == pytest.approx(scale, rel=1e-6)
    assert scale != pytest.approx(1.0, abs=0.1) or not standardize or kappa == 0
    # no training-time loss (nor its autograd graph) is left in the fitted model
    assert getattr(model.model_, "auxiliary_loss", None) is None

    # the same network, rebuilt from the seed so that the global RNG is where training found
    # it (DIEN draws its auxiliary negatives from it)
    torch.manual_seed(config.seed)
    initial = BACKBONES[backbone](**model.encoder_.sizes, dim=8, hidden=16)
    for mine, theirs in zip(initial.state_dict().values(),
                            model.initial_model_.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs)
    initial.train()
    inputs, labels = _inputs(model, trajectories)
    # the batch in the trainer's order: DIEN's negatives are drawn row by row
    order = torch.from_numpy(np.random.default_rng(config.seed).permutation(len(labels)))
    inputs, labels = [t[order] for t in inputs], labels[order]
    positive, negative = positive[order.numpy()], negative[order.numpy()]
    loss = _reference_loss(initial, inputs, labels, positive, negative, kappa=kappa, scale=scale)
    assert model.loss_curve_[0] == pytest.approx(float(loss.detach()), rel=1e-5)
    gradients = torch.autograd.grad(loss, list(initial.parameters()), allow_unused=True)
    checked = 0
    for (name, before), after, gradient in zip(initial.named_parameters(),
                                               model.model_.parameters(), gradients, strict=True):
        if gradient is None:
            continue
        gradient = gradient + decay * before.detach()  # Adam's L2 penalty joins the gradient
        expected = before.detach() - 1e-3 * gradient / (gradient.abs() + 1e-8)
        clear = gradient.abs() > 1e-5  # leave out entries where float rounding decides the sign
        torch.testing.assert_close(after.detach()[clear], expected[clear], rtol=0, atol=2e-5,
                                   msg=lambda m, name=name: f"{name}: {m}")
        checked += int(clear.sum())
    assert checked > 500


def test_alignment_pushes_probability_towards_the_rewarded_item(frame):
    """Eq. 9 with a large kappa: rows whose r*(a^P) > r*(a^N) get a higher CTR than the others."""
    trajectories, _, categories = frame
    favoured = (trajectories["item"] % 2 == 0).to_numpy()
    sign = np.where(favoured, 1.0, -1.0)
    rewards = trajectories.select("event_id").with_columns(
        mental_reward_positive=pl.Series(sign), mental_reward_negative=pl.Series(-sign))
    config = dict(backbone="wide_deep", embedding_dim=8, hidden_dim=16, epochs=3, batch_size=64)
    base = MTRecClassifier(MTRecConfig(**config)).fit(trajectories, item_categories=categories)
    aligned = MTRecClassifier(MTRecConfig(**config, kappa=5.0)).fit(
        trajectories, rewards=rewards, item_categories=categories)

    def gap(model):
        p = model.predict_proba(trajectories)
        return p[favoured].mean() - p[~favoured].mean()

    assert gap(aligned) > gap(base) + 0.05  # measured 0.119 against 0.003


def test_alignment_loss_hand_value_and_gradient():
    prob = torch.tensor([0.25, 0.5, 0.9], requires_grad=True)
    positive, negative = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, -3.0])
    loss = alignment_loss(prob, positive, negative)
    # -(mean(2*0.25 + 0*0.75, -1*0.5 + 1*0.5, 0.5*0.9 - 3*0.1)) = -(0.5 + 0 + 0.15) / 3
    assert loss.item() == pytest.approx(-0.65 / 3)
    loss.backward()
    # dL/dF = -(r*(a^P) - r*(a^N)) / n
    assert prob.grad.tolist() == pytest.approx([-2.0 / 3, 2.0 / 3, -3.5 / 3])


def test_aligned_rewards_join_by_key_whatever_the_row_order(frame):
    trajectories, rewards, _ = frame
    shuffled = rewards.sample(fraction=1.0, shuffle=True, seed=0)
    positive, negative = aligned_rewards(trajectories, shuffled)
    expected = trajectories.select("event_id").join(rewards, on="event_id", maintain_order="left")
    np.testing.assert_array_equal(positive, expected["mental_reward_positive"].to_numpy()
                                  .astype(np.float32))
    np.testing.assert_array_equal(negative, expected["mental_reward_negative"].to_numpy()
                                  .astype(np.float32))


@pytest.mark.parametrize(
    ("change_frame", "change_rewards", "match"),
    [
        (lambda f: f.drop("event_id"), lambda r: r, r"frame: unable to find the key column "
                                                    r"'event_id'.*never matched by row "
                                                    r"position\.$"),
        (lambda f: f, lambda r: r.drop("event_id"), r"rewards: unable to find the key column"),
        (lambda f: f, lambda r: r.tail(-3), r"^3 training rows have no mental reward: "
                                            r"'event_id' {first} \(for one\) is not in rewards\.$"),
        (lambda f: f, lambda r: pl.concat([r, r.head(1)]),
         r"^rewards: column 'event_id' must be unique; {first} appears 2 times\.$"),
        (lambda f: f, lambda r: r.with_columns(mental_reward_negative=pl.when(
            pl.col("event_id") == 90).then(None).otherwise(pl.col("mental_reward_negative"))),
         r"^rewards: 'event_id' 90 has a missing or non-finite reward \(mental_reward_positive "
         r"[-0-9.]+, mental_reward_negative nan\); every reward must be a finite number\.$"),
        (lambda f: f, lambda r: r.with_columns(mental_reward_positive=pl.when(
            pl.col("event_id") == 91).then(float("inf")).otherwise(
            pl.col("mental_reward_positive"))), r"'event_id' 91 has a missing or non-finite"),
        (lambda f: f, lambda r: r.drop("mental_reward_negative"),
         r"unable to find column\(s\) \['mental_reward_negative'\]"),
    ],
)
def test_aligned_rewards_errors(frame, change_frame, change_rewards, match):
    trajectories, rewards, _ = frame
    # {first}: the first row's key (the first of the 3 dropped, the duplicated one)
    match = match.replace("{first}", str(trajectories["event_id"][0]))
    with pytest.raises(ValueError, match=match):
        aligned_rewards(change_frame(trajectories), change_rewards(rewards))


def test_amazon_samples_get_their_own_steps_rewards(tmp_path):
    """Issue #14's bug: samples list (positive, negative), trajectories a random order; the
    same row count made a positional match look right while 43% of rows got the other item's
    reward. Each sample must get r* of the step with its own user, position and item."""
    import json

    rng = np.random.default_rng(0)
    lines = [json.dumps({"reviewerID": f"U{u}", "asin": f"I{i}", "unixReviewTime": int(t)})
             for u in range(20) for t, i in enumerate(rng.choice(15, 5, replace=False))]
    (tmp_path / "reviews.json").write_text("\n".join(lines))
    (tmp_path / "meta.json").write_text("")
    data = load_amazon(tmp_path / "reviews.json", tmp_path / "meta.json", seed=1)
    steps = data.trajectories
    # a reward that names its step: user number * 1000 + position * 10 + response
    code = (steps["user_id"].str.slice(1).cast(pl.Int64) * 1000 + steps["position"] * 10
            + steps["response"]).cast(pl.Float64)
    rewards = steps.select("event_id").with_columns(mental_reward_positive=code,
                                                    mental_reward_negative=-code)
    positive, _ = aligned_rewards(data.samples, rewards)
    expected = (data.samples["user_id"].str.slice(1).cast(pl.Int64) * 1000
                + data.samples["position"] * 10 + data.samples["label"]).to_numpy()
    np.testing.assert_array_equal(positive, expected.astype(np.float32))


def test_fit_reads_the_label_column_and_history_length_it_is_given(frame):
    """``label=`` names the training label (the first loss is BCE against it), and the encoder
    keeps ``history_length`` items."""
    trajectories, _, categories = frame
    flipped = trajectories.with_columns(clicked=1 - pl.col("response"))
    model = MTRecClassifier(MTRecConfig(backbone="wide_deep", history_length=3, **SMALL)).fit(
        flipped, item_categories=categories, label="clicked")
    assert model.encoder_.history_length == 3
    inputs, _ = _inputs(model, flipped)
    assert inputs[1].shape[1] == 3
    initial = model.initial_model_.train()
    labels = torch.from_numpy(flipped["clicked"].to_numpy().astype(np.float32))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(initial(*inputs), labels)
    assert model.loss_curve_[0] == pytest.approx(float(loss.detach()), rel=1e-5)


def test_fit_errors_name_the_learner(frame):
    trajectories, rewards, _ = frame
    with pytest.raises(ValueError, match=r"^MTRecClassifier\.fit: kappa > 0 needs the mental "
                                         r"rewards \(rewards=QRIQL\(\.\.\.\)\.mental_rewards"
                                         r"\(trajectories\)\)\.$"):
        MTRecClassifier(MTRecConfig(kappa=0.5, epochs=1)).fit(trajectories)
    from offline_rl.errors import HiddenRewardError

    with pytest.raises(HiddenRewardError, match=r"MTRecClassifier\.fit"):
        MTRecClassifier(MTRecConfig(epochs=1)).fit(trajectories.with_columns(reward=pl.lit(0.0)))


def test_loss_curve_averages_every_batch_of_the_epoch(frame):
    """With a step too small to move the weights, each epoch's recorded loss is the mean of its
    batches' losses weighted by size, i.e. the full-data loss at the initial weights."""
    trajectories, rewards, categories = frame
    config = MTRecConfig(backbone="wide_deep", kappa=0.5, learning_rate=1e-30, embedding_dim=8,
                         hidden_dim=16, epochs=2, batch_size=64, weight_decay=0.0)
    model = MTRecClassifier(config).fit(trajectories, rewards=rewards, item_categories=categories)
    positive = rewards["mental_reward_positive"].to_numpy().astype(np.float32)
    negative = rewards["mental_reward_negative"].to_numpy().astype(np.float32)
    inputs, labels = _inputs(model, trajectories)
    loss = _reference_loss(model.initial_model_.train(), inputs, labels, positive, negative,
                           kappa=0.5, scale=model.reward_scale_)
    assert model.loss_curve_ == pytest.approx([float(loss.detach())] * 2, rel=1e-5)


@pytest.mark.parametrize(("spread", "scale"), [(0.0, 1.0), (0.3, None)])
def test_reward_scale_is_the_std_of_the_difference_unless_it_is_zero(frame, spread, scale):
    trajectories, _, categories = frame
    rng = np.random.default_rng(2)
    difference = 0.5 + spread * rng.normal(size=trajectories.height)
    rewards = trajectories.select("event_id").with_columns(
        mental_reward_positive=pl.Series(difference), mental_reward_negative=pl.lit(0.0))
    model = MTRecClassifier(MTRecConfig(backbone="wide_deep", kappa=1.0, **SMALL)).fit(
        trajectories, rewards=rewards, item_categories=categories)
    expected = scale if scale is not None else float(np.std(difference.astype(np.float32)))
    assert model.reward_scale_ == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(model.loss_curve_).all()

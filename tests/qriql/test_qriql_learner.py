"""QR-IQL beyond the shared learner contract (tests/test_learner_contract.py): output shapes,
Eq. (7) on the mental-rewards frame, IQ-Learn through the same code, the learned terminal
value, item features, and the errors particular to trajectories."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.qriql import MENTAL_REWARD_COLUMNS, QRIQL, QRIQLConfig
from offline_rl.qriql.features import KEY_COLUMNS

SMALL = dict(steps=15, batch_size=256, embedding_dim=8, hidden_dim=16, quantiles=4)




@pytest.fixture(scope="module")
def fitted(trajectories, categories):
    return QRIQL(QRIQLConfig(**SMALL)).fit(trajectories, item_categories=categories)


def test_fit_returns_self_and_shapes(fitted, trajectories):
    n = trajectories.height
    assert fitted.predict_quantiles(trajectories).shape == (n, 2, SMALL["quantiles"])
    assert fitted.predict_q(trajectories).shape == (n, 2)
    assert len(fitted.loss_curve_) == SMALL["steps"]
    assert fitted.n_rows_ == n
    assert np.isfinite(fitted.loss(trajectories))


def test_mental_rewards_frame(fitted, trajectories):
    rewards = fitted.mental_rewards(trajectories)
    assert rewards.columns == [*KEY_COLUMNS, *MENTAL_REWARD_COLUMNS]
    assert rewards.height == trajectories.height
    assert_frame_equal(rewards.select(KEY_COLUMNS), trajectories.select(KEY_COLUMNS))
    assert rewards["mental_reward_quantiles"].list.len().unique().to_list() == [SMALL["quantiles"]]
    logged = np.where(rewards["response"] == 1, rewards["mental_reward_positive"],
                      rewards["mental_reward_negative"])
    assert np.allclose(logged, rewards["mental_reward"])
    other = np.where(rewards["response"] == 1, rewards["mental_reward_negative"],
                     rewards["mental_reward_positive"])
    assert np.allclose(other, rewards["counterfactual_mental_reward"])
    assert (rewards["counterfactual_action"] == 1 - rewards["response"]).all()
    # Eq. 7: r* = Q - gamma V(s'), V(s') = 0 at done steps
    gamma = fitted.config.gamma
    expected = rewards["q_value"] - gamma * rewards["next_value"]
    assert np.allclose(expected, rewards["mental_reward"], atol=1e-5)
    assert (rewards.filter(pl.col("done"))["next_value"].abs() < 1e-6).all()


def test_logged_reward_uses_actual_next_state(fitted, trajectories):
    """r* of the logged action is Q(s, a) - gamma V(s') with the logged s'."""
    import torch

    from offline_rl.qriql.training import state_tensors

    data = fitted._encode(trajectories)
    cpu = torch.device("cpu")
    with torch.no_grad():
        q = fitted.network_(*state_tensors(data.state, cpu)).mean(-1).double().numpy()
        qn = fitted.network_(*state_tensors(data.next_state, cpu)).mean(-1).double()
        v = torch.logsumexp(qn, dim=1).numpy() * (~data.done)
    rows = np.arange(len(data))
    expected = q[rows, data.action] - fitted.config.gamma * v
    got = fitted.mental_rewards(trajectories)["mental_reward"].to_numpy()
    assert np.allclose(expected, got, atol=1e-5)


def test_models_saved_with_the_legacy_version_key_still_load(fitted, trajectories, tmp_path):
    """Artifacts written before offline_rl.config carried the config's version as 'version'."""
    fitted.save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    document = json.loads(path.read_text())
    document["config"]["version"] = document["config"].pop("schema_version")
    path.write_text(json.dumps(document))
    loaded = QRIQL.load(tmp_path / "model")
    assert loaded.config == fitted.config
    assert_frame_equal(loaded.mental_rewards(trajectories), fitted.mental_rewards(trajectories))


def test_write_mental_rewards_parquet(fitted, trajectories, tmp_path):
    path = fitted.write_mental_rewards(trajectories, tmp_path / "mental_rewards.parquet")
    assert_frame_equal(pl.read_parquet(path), fitted.mental_rewards(trajectories))


def test_iq_learn_same_code_path(trajectories):
    model = QRIQL(QRIQLConfig(**{**SMALL, "quantiles": 1})).fit(trajectories)
    assert model.config.is_iq_learn
    rewards = model.mental_rewards(trajectories)
    quantile = np.array([q[0] for q in rewards["mental_reward_quantiles"].to_list()])
    assert np.allclose(quantile, rewards["mental_reward"], atol=1e-5)


def test_learned_terminal_value(trajectories):
    model = QRIQL(QRIQLConfig(**SMALL, terminal_value="learned")).fit(trajectories)
    rewards = model.mental_rewards(trajectories)
    terminal = float(model.network_.terminal_value.detach().mean())
    done = rewards.filter(pl.col("done"))
    assert np.allclose(done["next_value"], terminal, atol=1e-5) and abs(terminal) > 0
    # Eq. 7 with the absorbing value: r* = Q - gamma V(s') at every row, done rows included
    expected = rewards["q_value"] - model.config.gamma * rewards["next_value"]
    assert np.allclose(expected, rewards["mental_reward"], atol=1e-5)


def test_actions_table_and_no_context(trajectories, session_sim):
    actions = pl.from_arrow(session_sim.actions)
    model = QRIQL(QRIQLConfig(**SMALL, use_context=False)).fit(trajectories, actions=actions)
    assert model.context_dim_ == 0
    assert model.network_.encoder.action_features.shape[1] == actions["features"].list.len()[0]




@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda f: f.with_columns(response=pl.lit(3, dtype=pl.Int64)),
         r"'response' must hold ints in \[0, 2\)"),
        (lambda f: f.head(1), "at least 2 trajectory rows"),
    ],
)
def test_bad_input(trajectories, mutate, match):
    with pytest.raises(ValueError, match=match):
        QRIQL(QRIQLConfig(**SMALL)).fit(mutate(trajectories))


def test_epochs_sets_the_number_of_steps(trajectories):
    config = QRIQLConfig(**{**SMALL, "epochs": 2})
    model = QRIQL(config).fit(trajectories)
    expected = -(-2 * trajectories.height // SMALL["batch_size"])
    assert model.steps_ == expected == len(model.loss_curve_)


def _next_state_frame(trajectories: pl.DataFrame, action: int) -> pl.DataFrame:
    """The non-terminal rows' next states s'_a as states (a user_trajectories-shaped frame):
    the history after this step, whose last response is set to ``action``."""
    rows = trajectories.filter(~pl.col("done"))
    last = pl.col("next_history_responses").list.len() - 1
    return rows.with_columns(
        history_items=pl.col("next_history_items"),
        history_responses=pl.col("next_history_responses").list.slice(0, last)
        .list.concat(pl.lit([action], dtype=pl.List(pl.Int64))),
        item=pl.col("next_item"),
        step=pl.col("step") + 1,
    )


@pytest.fixture(scope="module")
def fitted_warm(trajectories, categories):
    """T != 1, gamma != 0.9 and a learned absorbing value."""
    config = QRIQLConfig(**{**SMALL, "temperature": 1.7, "gamma": 0.6,
                            "terminal_value": "learned"})
    return QRIQL(config).fit(trajectories, item_categories=categories)


@pytest.mark.parametrize("which", ["fitted", "fitted_warm"])
def test_rewards_of_every_action_use_that_actions_next_state(request, trajectories, which):
    """Eq. 7 for the counterfactual too: r*(s, a) = Q(s, a) - gamma V(s'_a), with s'_a the
    logged s' whose last response is a (built here from the frame, through the public
    predict_quantiles only), V = T logsumexp of the mean head; quantile rewards use V_i; at
    done steps V is the absorbing state's (0, or the learned value)."""
    fitted = request.getfixturevalue(which)
    cfg = fitted.config
    rewards = fitted.mental_rewards(trajectories)
    by_action = np.stack(rewards["mental_reward_by_action"].to_list())
    lam = fitted.predict_quantiles(trajectories)  # (n, A, N)
    done = trajectories["done"].to_numpy()
    expected = lam.mean(axis=-1)
    expected_quantiles = lam.copy()
    for action in range(cfg.n_actions):
        lam_next = fitted.predict_quantiles(_next_state_frame(trajectories, action))
        value = cfg.temperature * np.log(np.exp(lam_next.mean(-1) / cfg.temperature).sum(1))
        value_i = cfg.temperature * np.log(np.exp(lam_next / cfg.temperature).sum(1))
        expected[~done, action] -= cfg.gamma * value
        expected_quantiles[~done, action] -= cfg.gamma * value_i
        if cfg.terminal_value == "learned":
            terminal = fitted.network_.terminal_value.detach().double().numpy()
            expected[done, action] -= cfg.gamma * terminal.mean()
            expected_quantiles[done, action] -= cfg.gamma * terminal
    np.testing.assert_allclose(by_action, expected, atol=2e-5)
    rows = np.arange(len(done))
    logged = trajectories["response"].to_numpy()
    got_quantiles = np.stack(rewards["mental_reward_quantiles"].to_list())
    # the logged action's quantile rewards, in increasing order (the head order is arbitrary)
    np.testing.assert_allclose(got_quantiles, np.sort(expected_quantiles[rows, logged], -1),
                               atol=2e-5)


@pytest.mark.parametrize(("decay", "huber"), [(0.0, 0.0), (0.2, 0.7)])
def test_one_training_step_is_adam_on_algorithm_1s_loss(trajectories, categories, decay, huber):
    """Full batch (batch_size >= rows), one step: the recorded loss is the QR-IQL loss at the
    initial weights and the weights move by Adam's first update of its gradient, V(s') path
    included. The initial weights are those of a fit whose step is 1e-30 (no change in
    float32)."""
    import torch

    from offline_rl.qriql.features import encode_trajectories
    from offline_rl.qriql.objective import qriql_loss

    settings = dict(SMALL, steps=1, batch_size=100_000, gamma=0.8, alpha=0.4, temperature=0.9,
                    weight_decay=decay, huber_kappa=huber)
    initial = QRIQL(QRIQLConfig(**settings, learning_rate=1e-30)).fit(
        trajectories, item_categories=categories)
    stepped = QRIQL(QRIQLConfig(**settings, learning_rate=1e-3)).fit(
        trajectories, item_categories=categories)
    cfg = initial.config
    data = encode_trajectories(trajectories, items=initial.items_,
                               history_length=initial.history_length_,
                               context_dim=initial.context_dim_, max_position=cfg.max_position,
                               n_actions=cfg.n_actions)

    def tensors(state):
        return [torch.from_numpy(np.ascontiguousarray(a)) for a in (
            state.history_items, state.history_responses, state.item, state.position,
            state.context)]

    network = initial.network_
    network.train()
    loss = qriql_loss(network(*tensors(data.state)), torch.from_numpy(data.action),
                      network(*tensors(data.next_state)), torch.from_numpy(data.done),
                      gamma=0.8, alpha=0.4, temperature=0.9, huber_kappa=huber).loss
    assert stepped.loss_curve_[0] == pytest.approx(float(loss.detach()), rel=1e-5)
    parameters = [p for p in network.parameters() if p.requires_grad]
    gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
    checked = 0
    for (name, before), after, gradient in zip(network.named_parameters(),
                                               stepped.network_.parameters(), gradients,
                                               strict=True):
        if gradient is None:
            continue
        gradient = gradient + decay * before.detach()  # Adam's L2 penalty joins the gradient
        expected = before.detach() - 1e-3 * gradient / (gradient.abs() + 1e-8)
        clear = gradient.abs() > 1e-5
        torch.testing.assert_close(after.detach()[clear], expected[clear], rtol=0, atol=2e-5,
                                   msg=lambda m, name=name: f"{name}: {m}")
        checked += int(clear.sum())
    assert checked > 1000


@pytest.mark.parametrize("settings", [
    dict(quantiles=3), dict(quantiles=1), dict(quantiles=2, terminal_value="learned"),
    dict(quantiles=1, terminal_value="learned"), dict(quantiles=2, huber_kappa=0.5)])
def test_loss_is_the_training_objective_on_the_given_rows(trajectories, settings):
    """QRIQL.loss(frame) is Algorithm 1's loss (IQ-Learn's for N = 1) of the fitted network on
    every row of ``frame``, with the config's gamma, alpha, T and terminal value."""
    import torch

    from offline_rl.qriql.features import encode_trajectories
    from offline_rl.qriql.objective import iq_learn_loss, qriql_loss

    config = QRIQLConfig(**{**SMALL, **settings, "gamma": 0.7, "alpha": 0.3,
                            "temperature": 1.4})
    model = QRIQL(config).fit(trajectories)
    rows = trajectories.head(300)
    data = encode_trajectories(rows, items=model.items_, history_length=model.history_length_,
                               context_dim=model.context_dim_, max_position=config.max_position,
                               n_actions=config.n_actions)

    def tensors(state):
        return [torch.from_numpy(np.ascontiguousarray(a)) for a in (
            state.history_items, state.history_responses, state.item, state.position,
            state.context)]

    with torch.no_grad():
        lam = model.network_(*tensors(data.state))
        lam_next = model.network_(*tensors(data.next_state))
    terminal = (model.network_.terminal_value.detach()
                if config.terminal_value == "learned" else None)
    actions, done = torch.from_numpy(data.action), torch.from_numpy(data.done)
    common = dict(gamma=0.7, alpha=0.3, temperature=1.4)
    if config.quantiles == 1:
        expected = iq_learn_loss(lam[..., 0], actions, lam_next[..., 0], done, **common,
                                 terminal_value=None if terminal is None else terminal[0])
    else:
        expected = qriql_loss(lam, actions, lam_next, done, **common,
                              huber_kappa=config.huber_kappa, terminal_value=terminal)
    assert model.loss(rows) == pytest.approx(float(expected.loss), rel=1e-5)
    if terminal is not None:  # the absorbing value is in play: fitted away from 0, done rows
        assert done.any() and float(terminal.abs().sum()) > 0

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
    quantiles = np.stack(rewards["mental_reward_quantiles"].to_list())
    assert (np.diff(quantiles, axis=1) >= 0).all()
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
    assert np.allclose(done["next_value"], terminal, atol=1e-5)


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

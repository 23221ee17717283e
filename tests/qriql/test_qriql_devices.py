"""Every tensor is created on the model's device (issue #13 item 4).

There is no GPU on the development machine, so the CUDA paths are exercised on PyTorch's
``meta`` device: tensors with shapes and no data, which refuse to meet a CPU tensor in an
operation. A function that created a CPU tensor beside the model would fail here as it would
on a GPU. Indices fed to an embedding are not checked by meta (nor by the CPU), so forward
pre-hooks assert the inputs' device explicitly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SMALL

from offline_rl.mtrec.backbones import BACKBONES
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.qriql.objective import iq_learn_loss, mental_reward, qriql_loss
from offline_rl.qriql.training import PairForward, batch_loss

META = torch.device("meta")


def _inputs_on(device: torch.device):
    def hook(module, args):
        for value in args:
            tensors = value if isinstance(value, tuple) else (value,)
            for tensor in tensors:
                if isinstance(tensor, torch.Tensor):
                    assert tensor.device == device, f"{type(module).__name__} got a {tensor.device} input"
    return hook


@pytest.mark.parametrize("terminal", [None, torch.zeros(3, device=META)])
@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_objective_creates_nothing_off_the_inputs_device(terminal, kappa):
    lam = torch.empty(5, 2, 3, device=META)
    actions = torch.zeros(5, dtype=torch.long, device=META)
    done = torch.zeros(5, dtype=torch.bool, device=META)
    parts = qriql_loss(lam, actions, lam, done, gamma=0.9, alpha=0.5, huber_kappa=kappa,
                       terminal_value=terminal)
    assert parts.loss.device == META
    plain = iq_learn_loss(lam[..., 0], actions, lam[..., 0], done, gamma=0.9, alpha=0.5,
                          terminal_value=None if terminal is None else terminal[0])
    assert plain.loss.device == META
    reward, quantiles = mental_reward(lam, lam, done, gamma=0.9, terminal_value=terminal)
    assert reward.device == META and quantiles.device == META


@pytest.fixture(scope="module")
def fitted_on_meta(trajectories):
    """A fitted learner moved to the meta device, as if it had been fitted on a GPU."""
    model = QRIQL(QRIQLConfig(**{**SMALL, "steps": 2, "terminal_value": "learned"})).fit(trajectories)
    model.network_.to(META)
    model._device = META
    model.network_.register_forward_pre_hook(_inputs_on(META))
    return model


def test_training_and_evaluation_loss_stay_on_the_model_device(fitted_on_meta, trajectories):
    model = fitted_on_meta
    batch = model._encode(trajectories.head(64))
    parts = batch_loss(PairForward(model.network_), model.network_, batch, config=model.config, device=META)
    assert parts.loss.device == META


def test_mental_rewards_stay_on_the_model_device(fitted_on_meta, trajectories):
    tensors = fitted_on_meta._reward_tensors(fitted_on_meta._encode(trajectories.head(64)))
    assert {name: t.device for name, t in tensors.items()} == dict.fromkeys(tensors, META)


def test_asking_for_cuda_without_it_is_a_clear_error(trajectories, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' was asked for, but torch.cuda.is_available\(\) is False"):
        QRIQL(QRIQLConfig(**SMALL, device="cuda")).fit(trajectories)


def test_fit_records_where_it_ran(trajectories):
    model = QRIQL(QRIQLConfig(**SMALL, device="cpu", max_threads=1)).fit(trajectories)
    assert model.runtime_ == {"device": "cpu", "threads": 1, "world_size": 1, "backend": None}


@pytest.mark.parametrize("name", ["sasrec", "dien"])
def test_backbones_create_their_masks_on_the_input_device(name):
    """SASRec's causal mask, DIEN's initial state (inference: DIEN's auxiliary loss needs data)."""
    model = BACKBONES[name](5, 9, 4, dim=4, hidden=8).to(META).eval()
    model.register_forward_pre_hook(_inputs_on(META))
    history = torch.as_tensor(np.array([[0, 0, 3, 4], [1, 2, 3, 4]]), device=META)
    ones = torch.ones(2, dtype=torch.long, device=META)
    assert model(ones, history, torch.ones_like(history), ones, ones).device == META


def test_dien_draws_its_random_negatives_on_the_states_device(monkeypatch):
    """Its auxiliary loss masks rows by their data, which meta tensors have not: spy instead."""
    import offline_rl.mtrec.backbones as backbones

    devices = []
    real = torch.randint

    def spy(*args, **kwargs):
        devices.append(kwargs.get("device"))
        return real(*args, **kwargs)

    monkeypatch.setattr(backbones.torch, "randint", spy)
    model = BACKBONES["dien"](5, 9, 4, dim=4, hidden=8).train()
    history = torch.as_tensor(np.array([[0, 0, 3, 4], [1, 2, 3, 4]]))
    ones = torch.ones(2, dtype=torch.long)
    model(ones, history, torch.ones_like(history), ones, ones)
    assert devices == [torch.device("cpu")]

"""IGL-P on a chosen device, with a sensible thread count (issue #13 item 4).

The development machine has no GPU. IKNet's forward takes data-dependent branches
(``torch.unique``, the shared-candidates check), so PyTorch's shape-only ``meta`` device
cannot run it; instead a spy wraps torch's tensor factories during a fit, a decode, an
online fit, a warm start and the bandit, and fails on any call from ``offline_rl.igl`` that
does not say ``device=``. Module constructors are exempt: parameters and buffers are created
on the CPU and the whole module is then moved with ``.to(device)``, the usual torch pattern.
The real CUDA path runs where a GPU is present and is skipped otherwise.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest
import torch
from igl_fixtures import PLANTED_CONFIG, planted_actions, planted_frame

from offline_rl import runtime
from offline_rl.errors import NoSignalWarning
from offline_rl.igl.bandit import RewardBandit
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import IGLP

TINY = dict(PLANTED_CONFIG, ik_epochs=2, ik_warmup_epochs=1, policy_epochs=2, ik_restarts=1)
THREE = dict(states=3, negative_signals=("dislike",))
#: torch functions that create a tensor on an implicit device unless told otherwise.
FACTORIES = ("tensor", "as_tensor", "zeros", "ones", "full", "empty", "arange", "randint",
             "randn", "rand", "from_numpy", "linspace", "eye")


@pytest.fixture(scope="module")
def planted():
    return planted_frame(n=1200)


@pytest.fixture
def factory_spy(monkeypatch):
    """Calls of torch's factories from offline_rl.igl without ``device=`` (outside __init__)."""
    offenders: list[str] = []

    def wrap(name, real):
        def spy(*args, **kwargs):
            caller = sys._getframe(1)
            module = caller.f_globals.get("__name__", "")
            if (module.startswith("offline_rl.igl") and caller.f_code.co_name != "__init__"
                    and "device" not in kwargs):
                offenders.append(f"{module}.{caller.f_code.co_name}:{caller.f_lineno} torch.{name}")
            return real(*args, **kwargs)
        return spy

    for name in FACTORIES:
        monkeypatch.setattr(torch, name, wrap(name, getattr(torch, name)))
    return offenders


def test_every_tensor_of_a_fit_is_created_on_the_chosen_device(planted, factory_spy, tmp_path):
    from offline_rl.simulators import make_environment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSignalWarning)  # tiny budgets
        three = IGLP(IGLPConfig(**THREE, **TINY, device="cpu"))  # alpha estimated
        decoded = three.fit_decode(planted, actions=planted_actions())
        three.decode(planted.head(50))
        three.predict_proba(planted.head(50))
        three.save(tmp_path / "three")
        IGLP.load(tmp_path / "three", device="cpu").decode(planted.head(50))
        warm = IGLP(IGLPConfig(**THREE, **TINY, device="cpu", seed=1))
        warm.fit(planted, actions=planted_actions(), warm_start=three)
        env = make_environment("covertype", seed=0, n_users=4, n_words=4)
        IGLP(IGLPConfig(**TINY, device="cpu")).fit_online(env, rounds=400, batch_rounds=200)
        bandit = RewardBandit(IGLPConfig(**TINY, device="cpu"))
        bandit.fit(planted.drop("feedback"), np.zeros(planted.height)).predict(planted.head(20))
    assert three.alpha_estimated_ and decoded.height == planted.height
    assert factory_spy == []


def test_the_spy_catches_a_tensor_created_without_a_device(factory_spy):
    """The check above is not vacuous: a call from an igl module without device= is caught."""
    from offline_rl.igl import ik_model

    exec(compile("torch.zeros(3)", ik_model.__file__, "exec"), dict(vars(ik_model)))
    assert len(factory_spy) == 1 and factory_spy[0].endswith("torch.zeros")


def test_explicit_cpu_and_the_manifest_record(planted, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSignalWarning)
        model = IGLP(IGLPConfig(**TINY, device="cpu")).fit(planted)
    assert model.runtime_ == {"device": "cpu", "threads": 1, "world_size": 1, "backend": None}
    assert {p.device.type for p in model.ik_model_.parameters()} == {"cpu"}
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["runtime"] == model.runtime_
    assert IGLP.load(tmp_path).runtime_ == model.runtime_


def test_auto_is_the_cpu_without_cuda(planted, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert IGLPConfig().device == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSignalWarning)
        model = IGLP(IGLPConfig(**TINY)).fit(planted.head(400))
    assert model.runtime_["device"] == "cpu"


def test_asking_for_cuda_without_it_is_a_clear_error(planted, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' was asked for, but torch.cuda.is_available\(\) is False"):
        IGLP(IGLPConfig(**TINY, device="cuda")).fit(planted)


def test_threads_default_to_the_runtime_rule(planted, monkeypatch):
    """max_threads=None is runtime.default_threads() (1 on the 2-core development machine)."""
    assert IGLPConfig().max_threads is None
    monkeypatch.setattr(runtime, "default_threads", lambda **_: 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSignalWarning)
        model = IGLP(IGLPConfig(**{**TINY, "max_threads": None})).fit(planted.head(400))
    assert model.runtime_["threads"] == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_cuda_fit_decodes_like_the_cpu_fit(planted, tmp_path):
    config = dict(**THREE, alpha=0.5, **PLANTED_CONFIG)
    cpu = IGLP(IGLPConfig(**config, device="cpu"))
    gpu = IGLP(IGLPConfig(**config, device="cuda"))
    decoded_cpu = cpu.fit_decode(planted, actions=planted_actions())
    decoded_gpu = gpu.fit_decode(planted, actions=planted_actions())
    assert gpu.runtime_["device"].startswith("cuda")
    assert {p.device.type for p in gpu.ik_model_.parameters()} == {"cuda"}
    # not bit-identical (other kernels), but the same decoding on nearly every row
    agree = (decoded_cpu["decoded_reward"] == decoded_gpu["decoded_reward"]).mean()
    assert agree > 0.95, agree
    gpu.save(tmp_path)
    assert IGLP.load(tmp_path, device="cpu").decode(planted.head(100)).height == 100

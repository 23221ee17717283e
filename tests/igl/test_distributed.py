"""IGL-P under DDP: ``torchrun --nproc-per-node 2 -m offline_rl fit-igl`` with gloo on CPU
(issue #13 item 3), and the arithmetic of :mod:`offline_rl.igl.distributed` in one process.

* Fast: with a batch larger than the data (one step per epoch, so the order of rows inside a
  step does not matter), 2 processes must give the 1-process model up to float rounding:
  this pins the loss scaling, the sparse rows' gradient, the gathered user deviations, the
  context moments, the no-signal level, alpha's estimate and the rank-0 writes, on the
  planted-signal frame with 3 states (IK models, alpha's classifier and policy all trained).
* Slow: on the Covertype stream with mini-batches (so the two fits see other batches), the
  decoded F1 of 2 processes is within 0.02 of 1 process's (docs/scale.md has the figures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from igl_fixtures import planted_actions, planted_frame

from offline_rl.igl.distributed import DataParallel, user_ranks
from offline_rl.igl.experiments._common import precision_recall_f1
from offline_rl.igl.learner import DECODED_COLUMNS, IGLP
from offline_rl.runtime import ParquetRowGroups


def _torchrun() -> list[str]:
    found = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


def _fit(path, out, args, processes):
    launcher = [*_torchrun(), "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else [
        sys.executable]
    command = [*launcher, "-m", "offline_rl", "fit-igl", str(path), "--out", str(out), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


# ------------------------------------------------------------------------------ one process
def test_users_are_dealt_by_a_fixed_hash():
    ids = pl.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 3)
    ranks = user_ranks(ids, 2)
    assert set(ranks.tolist()) == {0, 1}
    assert (ranks[:10] == ranks[10:20]).all()  # a user's rows all go to one rank
    assert user_ranks(pl.Series(["a", "b"]), 1).tolist() == [0, 0]
    assert user_ranks(pl.Series([1, 2, 3, 4, 5, 6]), 3).tolist() == user_ranks(pl.Series([1, 2, 3, 4, 5, 6]), 3).tolist()


def test_one_process_cuts_epochs_as_it_always_did():
    order = np.arange(10)
    assert [c.tolist() for c in DataParallel().epoch_chunks(order, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert DataParallel().sum([1.5, 2]) == [1.5, 2.0]
    assert DataParallel().loss_scale(4.0) == 0.25


def test_the_loss_scale_undoes_ddps_average():
    """DDP averages N gradients: each process's weighted sum times N / (step's total weight)
    makes the average the gradient of the weighted mean over every process's rows."""
    from offline_rl.runtime import World

    assert DataParallel(World(rank=1, world_size=4)).loss_scale(8.0) == 0.5
    owned = np.array([True, False, True])  # vocabulary rows: unknown slot, then users
    assert DataParallel().distributed is False
    module = torch.nn.Embedding(3, 2, sparse=True)
    DataParallel().gather_owned_rows(module, owned)  # one process: nothing to do


def test_a_parquet_is_read_row_group_by_row_group_into_the_frames_fit(tmp_path, monkeypatch):
    frame = planted_frame(n=900)
    path = tmp_path / "ik.parquet"
    pq.write_table(frame.to_arrow(), path, row_group_size=100)
    reads = []
    real = ParquetRowGroups.read

    def read(self, group, columns=None):
        table = real(self, group, columns)
        reads.append(table.num_rows)
        return table

    monkeypatch.setattr(ParquetRowGroups, "read", read)
    config = dict(ik_epochs=2, ik_warmup_epochs=1, ik_restarts=1, policy_epochs=2, max_threads=1)
    from offline_rl.igl.config import IGLPConfig

    with pytest.warns(Warning):  # two epochs find no signal
        streamed = IGLP(IGLPConfig(**config)).fit_decode(ParquetRowGroups(path))
    assert reads and max(reads) <= 100
    with pytest.warns(Warning):
        in_memory = IGLP(IGLPConfig(**config)).fit_decode(frame)
    assert streamed.equals(in_memory)


# ------------------------------------------------------------------------------ two processes
@pytest.fixture(scope="module")
def planted_parquet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    pq.write_table(planted_frame(n=1600).to_arrow(), folder / "ik_training_set.parquet", row_group_size=200)
    planted_actions().write_parquet(folder / "actions.parquet")
    return folder / "ik_training_set.parquet"


def _full_batch(path) -> list[str]:
    """IGL-P(3) with alpha estimated (the IK models, alpha's classifier and the policy all
    train), one step per epoch; 60 epochs let the IK models find the planted signal."""
    return ["--states", "3", "--negative-signal", "dislike", "--actions", str(path.parent / "actions.parquet"),
            "--epochs", "60", "--restarts", "1", "--batch-size", "100000", "--policy-batch-size", "100000",
            "--policy-epochs", "3", "--device", "cpu", "--threads", "1", "--seed", "0"]


def test_two_processes_with_one_step_per_epoch_give_the_one_process_model(planted_parquet, tmp_path):
    two = _fit(planted_parquet, tmp_path / "two", _full_batch(planted_parquet), 2)
    one = _fit(planted_parquet, tmp_path / "one", _full_batch(planted_parquet), 1)
    assert two.stdout.count("IGL-P(3) fitted on 1600 rows") == 1, "rank 0 alone reports"
    assert "signal found" in one.stdout and "(estimated)" in one.stdout
    assert "on 2 x cpu" in two.stdout and "on 1 x cpu" in one.stdout

    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["runtime"] == {"device": "cpu", "threads": 1, "world_size": 2, "backend": "gloo"}
    # the same artifact format: the same files, state-dict keys and shapes, config, vocabularies
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    model_two, model_one = IGLP.load(tmp_path / "two"), IGLP.load(tmp_path / "one")
    assert model_two.config == model_one.config
    assert model_two.users_ == model_one.users_ and model_two.actions_ == model_one.actions_
    state_two = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    state_one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    assert state_two.keys() == state_one.keys()
    for name, value in state_one.items():
        assert state_two[name].shape == value.shape, name
        if value.is_floating_point():
            torch.testing.assert_close(state_two[name], value, atol=2e-4, rtol=2e-4, msg=name)
        else:
            assert torch.equal(state_two[name], value), name
    assert model_two.n_rows_ == model_one.n_rows_ == 1600
    assert model_two.ik_held_out_nll_ == pytest.approx(model_one.ik_held_out_nll_, abs=1e-4)
    assert model_one.alpha_estimated_ and model_two.alpha_estimated_
    assert model_two.alpha_ == pytest.approx(model_one.alpha_, abs=1e-4)

    decoded_two = pl.read_parquet(tmp_path / "two" / "decoded_rewards.parquet")
    decoded_one = pl.read_parquet(tmp_path / "one" / "decoded_rewards.parquet")
    assert decoded_two.columns == ["event_id", *DECODED_COLUMNS]
    assert decoded_two["event_id"].to_list() == decoded_one["event_id"].to_list()  # complete, in order
    assert np.allclose(decoded_two["k_p_hat"].to_numpy(), decoded_one["k_p_hat"].to_numpy(), atol=1e-3)
    assert decoded_one["is_extreme"].sum() > 100  # the planted signal was found: a real test
    # -1/alpha differs in the last digits with alpha; a row may sit on K * P_hat = 2
    close = np.isclose(decoded_two["decoded_reward"].to_numpy(), decoded_one["decoded_reward"].to_numpy(), atol=1e-3)
    assert close.mean() > 0.999


def test_a_process_that_owns_no_user_still_takes_part(tmp_path):
    """One user: one process holds every row, the other none; every collective still meets."""
    path = tmp_path / "one_user.parquet"
    pq.write_table(planted_frame(n=600, users=1).to_arrow(), path, row_group_size=100)
    _fit(path, tmp_path / "run", ["--epochs", "2", "--restarts", "1", "--batch-size", "256",
                                  "--device", "cpu", "--threads", "1"], 2)
    assert pl.read_parquet(tmp_path / "run" / "decoded_rewards.parquet")["event_id"].to_list() == list(range(600))


def test_raw_logs_under_torchrun_are_refused(tmp_path):
    from offline_rl.simulators import simulate_logs, write_simulation

    write_simulation(simulate_logs("covertype", rows=300, seed=0, n_users=4, n_words=4), tmp_path)
    command = [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "offline_rl", "fit-igl",
               str(tmp_path / "logs.parquet"), "--out", str(tmp_path / "run"), "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "Run `offline-rl prepare LOGS --out DIR` once" in result.stdout + result.stderr
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ quality (slow)
COVERTYPE_ROWS = 60_000

#: The Covertype experiment's fit (docs/igl.md) on a prepared Parquet, in 1 or 2 processes.
COVERTYPE_CHILD = """
import sys
from offline_rl.igl.experiments.covertype import covertype_config
from offline_rl.igl.folder import fit_to_folder
from offline_rl.runtime import ParquetRowGroups
fit_to_folder(ParquetRowGroups(sys.argv[1]), sys.argv[2],
              config=covertype_config(0, device="cpu", max_threads=1))
"""


@pytest.fixture(scope="module")
def covertype_parquet(tmp_path_factory):
    """The Covertype stream's ik_training_set (100 users and words, the experiment's size);
    the hidden reward kept aside, read only to score."""
    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.simulators import simulate_logs

    sim = simulate_logs("covertype", rows=COVERTYPE_ROWS, seed=0, n_users=100, n_words=100)
    logs = pl.from_arrow(sim.logs)
    path = tmp_path_factory.mktemp("covertype") / "ik_training_set.parquet"
    pq.write_table(ik_training_set(drop_hidden_reward(logs)).to_arrow(), path, row_group_size=2000)
    return path, logs.select("event_id", "reward")


def _decoded_f1(out, truth) -> float:
    decoded = pl.read_parquet(out / "decoded_rewards.parquet").join(truth, on="event_id", how="left")
    return precision_recall_f1(decoded["decoded_reward"].to_numpy() > 0, decoded["reward"].to_numpy() > 0)["f1"]


@pytest.mark.slow
def test_two_processes_decode_covertype_as_well_as_one(covertype_parquet, tmp_path):
    """Decoded F1 of every training row (out of fold) against the hidden reward: 2 processes
    within 0.02 of 1 (seed 0; about 2 min on the loaded 2-core machine, hence slow).
    Seeds 0-4 of the benchmark: BENCHMARKS.md, "IGL-P at scale"."""
    path, truth = covertype_parquet
    script = tmp_path / "fit_child.py"
    script.write_text(COVERTYPE_CHILD)
    for out, launcher in ((tmp_path / "one", [sys.executable]),
                          (tmp_path / "two", [*_torchrun(), "--standalone", "--nproc-per-node", "2"])):
        result = subprocess.run([*launcher, str(script), str(path), str(out)], capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-4000:]
    one, two = _decoded_f1(tmp_path / "one", truth), _decoded_f1(tmp_path / "two", truth)
    assert one > 0.85, one  # both fits learnt the conventions (docs/igl.md: F1 >= 0.85)
    assert abs(two - one) <= 0.02, (one, two)
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["runtime"]["world_size"] == 2
    assert pl.read_parquet(tmp_path / "two" / "decoded_rewards.parquet").height == COVERTYPE_ROWS

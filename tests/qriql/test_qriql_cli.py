"""``offline-rl fit-qriql`` and ``experiment mtrec`` smoke tests (CliRunner, tiny budgets)."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from offline_rl.qriql import QRIQL
from offline_rl.simulators.sessions import simulate


@pytest.fixture(scope="module")
def logs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "logs.parquet"
    pq.write_table(simulate(rows=800, seed=2, n_users=20, n_items=40).logs, path)
    return path


@pytest.mark.parametrize("quantiles", [1, 3])
def test_fit_qriql_writes_model_and_rewards(logs_file, tmp_path, quantiles):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "fit-qriql", str(logs_file), "--out", str(out), "--quantiles", str(quantiles),
        "--alpha", "0.5", "--gamma", "0.8", "--steps", "3", "--batch-size", "128"])
    assert result.exit_code == 0, result.output
    assert ("IQ-Learn" if quantiles == 1 else f"QR-IQL (N={quantiles})") in result.output
    rewards = pl.read_parquet(out / "mental_rewards.parquet")
    assert rewards.height == 800
    assert rewards["mental_reward_quantiles"].list.len().unique().to_list() == [quantiles]
    config = json.loads((out / "model" / "config.json").read_text())["config"]
    assert (config["quantiles"], config["alpha"], config["gamma"]) == (quantiles, 0.5, 0.8)
    model = QRIQL.load(out / "model")
    assert model.config.quantiles == quantiles


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--quantiles", "0"], "'quantiles' parameter of QRIQLConfig must be an int >= 1"),
        (["--gamma", "1.5"], "'gamma' parameter of QRIQLConfig"),
    ],
)
def test_fit_qriql_bad_options_exit_2(logs_file, tmp_path, args, match):
    result = CliRunner().invoke(main, ["fit-qriql", str(logs_file), "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert match in result.output


def test_fit_qriql_bad_logs_exit_2(tmp_path):
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"event_id": [1], "user_id": [1]}).write_parquet(bad)
    result = CliRunner().invoke(main, ["fit-qriql", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("error:")
    assert not (tmp_path / "o" / "mental_rewards.parquet").exists()


def test_experiment_mtrec_command(tmp_path):
    from offline_rl.cli.experiment_mtrec import mtrec

    result = CliRunner().invoke(mtrec, [
        "--out", str(tmp_path), "--rows", "600", "--reward-steps", "2", "--ctr-epochs", "1",
        "--backbones", "din", "--rl-iterations", "1", "--satisfaction-rows", "600"])
    assert result.exit_code == 0, result.output
    assert "| DIN-MTRec |" in result.output
    for name in ("mtrec_table.csv", "mtrec_table.md", "reward_correlations.csv",
                 "mental_reward_by_step.png", "explicit_check.json", "rl_variant.csv",
                 "satisfaction_check.json",
                 "summary.json"):
        assert (tmp_path / name).is_file(), name
    table = pl.read_csv(tmp_path / "mtrec_table.csv")
    assert table["model"].to_list() == ["DIN", "DIN-IRL", "DIN-MTRec"]
    # progress is the library's logging, shown on stderr; the table alone goes to stdout
    assert "DIN-MTRec: AUC" in result.stderr and "DIN-MTRec: AUC" not in result.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["config"]["schema_version"] == "1"


def test_experiment_mtrec_defaults_are_the_config_defaults():
    from offline_rl.cli.experiment_mtrec import mtrec
    from offline_rl.mtrec.experiment import ExperimentConfig

    defaults = {param.name: param.default for param in mtrec.params}
    config = ExperimentConfig()
    for name in ("rows", "reward_steps", "ctr_epochs", "kappa", "rl_iterations",
                 "satisfaction_rows"):
        assert defaults[name] == getattr(config, name), name
    assert tuple(defaults["backbones"].split(",")) == config.backbones
    assert defaults["rows"] == config.production_rows  # --rows sets both


def test_experiment_mtrec_bad_backbone_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--out", str(tmp_path / "o"),
                                       "--backbones", "din,lstm"])
    assert result.exit_code == 2
    assert "'backbones' parameter of ExperimentConfig must be a tuple of str among" in result.output
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- training options
@pytest.fixture(scope="module")
def prepared(logs_file, tmp_path_factory):
    """``offline-rl prepare``'s user_trajectories.parquet, in small row groups."""
    from offline_rl.data.prepare import user_trajectories

    path = tmp_path_factory.mktemp("prepared") / "user_trajectories.parquet"
    pq.write_table(user_trajectories(logs_file).to_arrow(), path, row_group_size=100)
    return path


def _fit(*args):
    return CliRunner().invoke(main, ["fit-qriql", *map(str, args)])


def test_fit_qriql_streams_a_prepared_parquet_with_a_validation_split(prepared, tmp_path):
    out = tmp_path / "run"
    result = _fit(prepared, "--out", out, "--quantiles", 3, "--steps", 12, "--batch-size", 64,
                  "--validation-fraction", 0.3, "--validation-every", 4, "--patience", 5)
    assert result.exit_code == 0, result.output
    assert "held-out loss" in result.output and "on 1 x cpu" in result.output
    model = QRIQL.load(out / "model")
    assert [step for step, _ in model.validation_curve_] == [4, 8, 12]
    assert model.config.validation_fraction == 0.3 and model.n_validation_rows_ > 0
    assert pl.read_parquet(out / "mental_rewards.parquet").height == 800
    assert not (out / "prepare_config.json").exists()  # the signals were mapped by prepare
    manifest = json.loads((out / "model" / "manifest.json").read_text())
    assert manifest["runtime"] == {"device": "cpu", "threads": 1, "world_size": 1, "backend": None}


def test_fit_qriql_device_cuda_without_cuda_exits_2(logs_file, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = _fit(logs_file, "--out", tmp_path / "o", "--device", "cuda", "--steps", 2)
    assert result.exit_code == 2
    assert "device 'cuda' was asked for, but torch.cuda.is_available() is False" in result.output
    assert not (tmp_path / "o" / "model").exists()


def test_fit_qriql_refuses_an_undeclared_feedback_signal(tmp_path):
    """A renamed 'skip' once counted as positive: 800 of 800 rows, and a fit without warning."""
    logs = pl.from_arrow(simulate(rows=800, seed=2, n_users=20, n_items=40).logs).with_columns(
        feedback=pl.col("feedback").replace({"skip": "skipped"}))
    path = tmp_path / "logs.parquet"
    logs.write_parquet(path)
    result = _fit(path, "--out", tmp_path / "o", "--vocabulary", "click,skipped", "--steps", 2)
    assert result.exit_code == 2
    assert "signal(s) ['skipped'] are in neither positive_signals" in result.output
    assert not (tmp_path / "o").exists()
    declared = _fit(path, "--out", tmp_path / "ok", "--vocabulary", "click,skipped", "--steps", 2,
                    "--negative-signals", "skipped", "--positive-signals", "click")
    assert declared.exit_code == 0, declared.output
    rewards = pl.read_parquet(tmp_path / "ok" / "mental_rewards.parquet").join(
        logs.select("event_id", "feedback"), on="event_id")
    assert rewards.height == 800
    assert (rewards["response"] == (rewards["feedback"] == "click").cast(pl.Int64)).all()
    assert 0 < rewards["response"].sum() < 800


def test_distributed_fit_of_raw_logs_exits_2(logs_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = _fit(logs_file, "--out", tmp_path / "o", "--steps", 2)
    assert result.exit_code == 2
    assert "a distributed fit (2 processes) streams a user_trajectories Parquet" in result.output


@pytest.mark.slow
def test_a_killed_fit_qriql_resumed_gives_the_uninterrupted_model(prepared, tmp_path):
    """A real SIGKILL: the command dies mid-fit; --resume finishes it; the model is the one an
    uninterrupted command gives (same bits). Slow (three processes start torch, ~25 s); the
    fast suite kills fits in process (test_qriql_training.py, test_qriql_streaming.py)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    args = ["--quantiles", "3", "--steps", "400", "--batch-size", "64", "--checkpoint-every", "20",
            "--threads", "1"]
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "offline_rl", "fit-qriql", str(prepared), "--out", str(out), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    checkpoint = out / "checkpoint" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    assert checkpoint.exists(), "no checkpoint was written"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "model").exists()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([*command[:6], str(tmp_path / "whole"), *args], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    a = torch.load(out / "model" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "whole" / "model" / "model.pt", weights_only=True)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    curve = json.loads((out / "model" / "config.json").read_text())["fitted"]["loss_curve"]
    assert curve == json.loads((tmp_path / "whole" / "model" / "config.json").read_text())["fitted"]["loss_curve"]

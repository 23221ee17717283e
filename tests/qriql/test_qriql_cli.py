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

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
        "--backbones", "din", "--rl-iterations", "1", "--satisfaction-rows", "600",
        "--n-replicates", "50"])
    assert result.exit_code == 0, result.output
    assert "| DIN-MTRec |" in result.output
    table = pl.read_csv(tmp_path / "mtrec_table.csv")
    assert table["model"].to_list() == ["DIN", "DIN-IRL", "DIN-MTRec"]
    # the markdown table is the csv's rows; each aligned row's difference is to the base row
    assert (tmp_path / "mtrec_table.md").read_text() == result.stdout
    base, *aligned = table.iter_rows(named=True)
    for row in aligned:
        assert row["auc_diff"] == pytest.approx(row["auc"] - base["auc"], abs=1e-12)
        assert row["ncis_diff"] == pytest.approx(row["ncis"] - base["ncis"], abs=1e-12)
        assert row["auc_diff_lower"] <= row["auc_diff"] <= row["auc_diff_upper"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["schema_version"] == "1" and summary["config"]["n_replicates"] == 50
    assert [r["auc"] for r in summary["table"]] == pytest.approx(table["auc"].to_list())
    checks = json.loads((tmp_path / "satisfaction_check.json").read_text())
    assert checks["rows"] + checks["fit_rows"] == 600  # held-out users scored, others fitted
    assert pl.read_csv(tmp_path / "rl_variant.csv")["model"].to_list() == [
        "REINFORCE", "REINFORCE-IRL", "REINFORCE-MTRec"]
    by_step = pl.read_csv(tmp_path / "mental_reward_by_step.csv")
    assert set(by_step["reward_model"]) == {"QR-IQL", "IQ-Learn"}
    assert (tmp_path / "mental_reward_by_step.png").read_bytes()[:4] == b"\x89PNG"
    # progress is the library's logging, shown on stderr; the table alone goes to stdout
    assert "DIN-MTRec: AUC" in result.stderr and "DIN-MTRec: AUC" not in result.stdout


def test_experiment_mtrec_several_seeds_write_a_summary(tmp_path):
    from offline_rl.cli.experiment_mtrec import mtrec

    result = CliRunner().invoke(mtrec, [
        "--out", str(tmp_path), "--rows", "500", "--reward-steps", "2", "--ctr-epochs", "1",
        "--backbones", "pnn", "--rl-iterations", "0", "--satisfaction-rows", "0",
        "--n-replicates", "20", "--seed", "3", "--seed", "4"])
    assert result.exit_code == 0, result.output
    per_seed = [pl.read_csv(tmp_path / f"seed-{s}" / "mtrec_table.csv") for s in (3, 4)]
    summary = pl.read_csv(tmp_path / "mtrec_seeds.csv")
    assert summary["model"].to_list() == ["PNN-IRL", "PNN-MTRec"]
    for row in summary.iter_rows(named=True):
        diffs = [t.filter(pl.col("model") == row["model"])["auc_diff"][0] for t in per_seed]
        assert (row["auc_diff_min"], row["auc_diff_max"]) == pytest.approx(
            (min(diffs), max(diffs)))
        assert row["auc_diff_median"] == pytest.approx(sum(diffs) / 2)
    assert result.stdout == (tmp_path / "mtrec_seeds.md").read_text()


def test_experiment_mtrec_defaults_are_the_config_defaults():
    from offline_rl.cli.experiment_mtrec import mtrec
    from offline_rl.mtrec.experiment import ExperimentConfig

    defaults = {param.name: param.default for param in mtrec.params}
    config = ExperimentConfig()
    for name in ("rows", "reward_steps", "ctr_epochs", "kappa", "rl_iterations",
                 "satisfaction_rows", "tune_alignment", "n_replicates"):
        assert defaults[name] == getattr(config, name), name
    assert tuple(defaults["backbones"].split(",")) == config.backbones
    assert tuple(float(k) for k in defaults["kappa_grid"].split(",")) == config.kappa_grid
    assert defaults["seeds"] == (0,)
    assert defaults["rows"] == config.production_rows  # --rows sets both


def test_experiment_mtrec_bad_backbone_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--out", str(tmp_path / "o"),
                                       "--backbones", "din,lstm"])
    assert result.exit_code == 2
    assert "'backbones' parameter of ExperimentConfig must be a tuple of str among" in result.output
    assert not (tmp_path / "o").exists()

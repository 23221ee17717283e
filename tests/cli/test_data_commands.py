"""CLI smoke tests for validate and prepare: exit codes, messages, no half-written output."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
from click.testing import CliRunner
from log_builders import make_log_rows, rows_to_table

from offline_rl.cli import COMMANDS, main


def test_help_lists_every_command_with_one_line():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("validate", "prepare", "simulate"):
        assert name in result.output


def test_validate_prints_one_summary_line(log_file):
    result = CliRunner().invoke(main, ["validate", str(log_file)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "valid: 12 rows, 3 users, 4 actions, 4 signals (click 3, dislike 3, like 3, none 3) in 1 file(s)"
    ]


def test_validate_rejects_bad_logs_with_exit_code_2(tmp_path):
    rows = make_log_rows()
    rows["propensity"][4] = 2.0
    path = tmp_path / "bad.parquet"
    pq.write_table(rows_to_table(rows), path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and "column 'propensity', row 4" in result.output
    assert "Traceback" not in result.output


def test_prepare_writes_both_marts(log_file, tmp_path):
    out = tmp_path / "prepared"
    result = CliRunner().invoke(main, ["prepare", str(log_file), "--out", str(out), "--history-length", "3"])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out / "ik_training_set.parquet").height == 12
    trajectories = pl.read_parquet(out / "user_trajectories.parquet")
    assert trajectories.height == 12
    assert trajectories["history_items"].list.len().max() <= 3


def test_prepare_on_bad_input_writes_nothing(tmp_path):
    rows = make_log_rows()
    rows["action"][2] = 42
    path = tmp_path / "bad.parquet"
    pq.write_table(rows_to_table(rows), path)
    out = tmp_path / "prepared"
    result = CliRunner().invoke(main, ["prepare", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "action in candidate_actions" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_prepare_refuses_a_bad_setting_with_exit_code_2(log_file, tmp_path):
    out = tmp_path / "prepared"
    result = CliRunner().invoke(main, ["prepare", str(log_file), "--out", str(out), "--history-length", "0"])
    assert result.exit_code == 2
    assert "The 'history_length' parameter of PrepareConfig must be an int >= 1. Got 0 instead." in result.output
    assert not out.exists()


def test_every_registered_command_module_exists():
    import importlib.util

    missing = [name for name, target in COMMANDS.items() if importlib.util.find_spec(target.split(":")[0]) is None]
    assert missing == []


def test_simulate_writes_valid_reproducible_logs(tmp_path):
    runner = CliRunner()
    for name in ("covertype", "production", "news", "sessions"):
        first, second = tmp_path / f"{name}-a", tmp_path / f"{name}-b"
        for out in (first, second):
            result = runner.invoke(main, ["simulate", name, "--out", str(out), "--rows", "400", "--seed", "5"])
            assert result.exit_code == 0, result.output
        assert (first / "logs.parquet").read_bytes() == (second / "logs.parquet").read_bytes()
        validated = runner.invoke(main, ["validate", str(first / "logs.parquet")])
        assert validated.exit_code == 0 and validated.output.startswith("valid: 400 rows")
        assert (first / "truth.json").is_file()


def test_simulate_rejects_unknown_simulator(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "casino", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "casino" in result.output

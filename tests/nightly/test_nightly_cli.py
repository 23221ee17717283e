"""End to end through the CLI: outputs, manifest, idempotent re-runs, recovery after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from offline_rl.cli import main

MANIFEST_KEYS = {
    "schema_version", "run_id", "date", "started_utc", "finished_utc", "git_sha", "libraries", "config",
    "seeds", "inputs", "sql_files", "rows", "metrics", "wall_seconds", "outputs",
}


def _nightly(logs, runs, config, *extra):
    return CliRunner().invoke(
        main, ["nightly", str(logs), "--runs", str(runs), "--config", str(config), "--quiet", "--no-qriql", *extra]
    )


def _bytes(run: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(run)): path.read_bytes()
        for path in sorted(run.rglob("*"))
        if path.is_file() and path.suffix in (".parquet", ".pt")
    }


@pytest.fixture(scope="module")
def first_run(partitioned_logs, fast_config, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = _nightly(partitioned_logs, runs, fast_config, "--date", "2026-11-01")
    assert result.exit_code == 0, result.output
    return runs, result


def test_run_writes_every_output_and_a_complete_manifest(first_run):
    runs, result = first_run
    run = runs / "2026-11-01"
    for name in ("decoded_rewards.parquet", "policy_scores.parquet", "lift.parquet", "report.html", "report.json",
                 "manifest.json", "models/iglp/model.pt", "models/iglp/config.json",
                 "prepared/ik_training_set.parquet", "prepared/user_trajectories.parquet"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert set(manifest["wall_seconds"]) == {"validate", "prepare", "fit_igl", "evaluate"}
    assert manifest["rows"]["prepare"]["ik_training_set"] == manifest["input_rows"] > 0
    assert all(len(digest) == 64 for digest in manifest["inputs"].values())
    assert any(name.endswith("ik_training_set.sql") for name in manifest["sql_files"])
    assert not (runs / ".partial" / "2026-11-01").exists()
    assert "report:" in result.output and "lift of IGL-P" in result.output
    decoded = pq.read_table(run / "decoded_rewards.parquet")
    assert {"event_id", "user_id", "feedback", "k_p_hat", "is_extreme", "decoded_reward"} <= set(decoded.column_names)


def test_rerun_same_date_is_a_no_op_and_force_is_byte_identical(first_run, partitioned_logs, fast_config, tmp_path):
    runs, _ = first_run
    run = runs / "2026-11-01"
    before = _bytes(run)
    again = _nightly(partitioned_logs, runs, fast_config, "--date", "2026-11-01")
    assert again.exit_code == 0 and "up to date" in again.output
    assert _bytes(run) == before
    forced = _nightly(partitioned_logs, tmp_path, fast_config, "--date", "2026-11-01", "--force")
    assert forced.exit_code == 0, forced.output
    assert _bytes(tmp_path / "2026-11-01") == before


def test_killed_run_leaves_no_run_folder_and_resumes(partitioned_logs, fast_config, tmp_path, first_run):
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "offline_rl", "nightly", str(partitioned_logs), "--runs", str(runs),
               "--config", str(fast_config), "--quiet", "--no-qriql", "--date", "2026-11-01"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = runs / ".partial" / "2026-11-01" / ".steps" / "prepare.json"
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the run should have reached the prepare step"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (runs / "2026-11-01").exists(), "a killed run must not publish a run folder"
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((runs / "2026-11-01" / "manifest.json").read_text())
    assert {"validate", "prepare"} <= set(manifest["reused_steps"])
    assert _bytes(runs / "2026-11-01") == _bytes(first_run[0] / "2026-11-01")
    leftovers = [path for path in (runs / "2026-11-01").rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == []


def test_bad_input_exits_non_zero_and_writes_nothing(tmp_path, fast_config):
    from log_builders import make_log_rows, rows_to_table

    rows = make_log_rows(20)
    rows["propensity"][7] = 0.0
    folder = tmp_path / "logs" / "date=2026-11-01"
    folder.mkdir(parents=True)
    pq.write_table(rows_to_table(rows), folder / "part-0.parquet")
    runs = tmp_path / "runs"
    result = _nightly(tmp_path / "logs", runs, fast_config)
    assert result.exit_code == 2
    assert "column 'propensity', row 7" in result.output
    assert not (runs / "2026-11-01").exists()


def test_missing_partition_is_a_clear_error(partitioned_logs, fast_config, tmp_path):
    result = _nightly(partitioned_logs, tmp_path, fast_config, "--date", "2026-12-24")
    assert result.exit_code == 2
    assert "no partition date=2026-12-24" in result.output and "2026-11-01" in result.output


def test_run_with_qriql_writes_queryable_mental_rewards(partitioned_logs, fast_config, tmp_path):
    result = CliRunner().invoke(
        main, ["nightly", str(partitioned_logs), "--runs", str(tmp_path), "--config", str(fast_config), "--quiet",
               "--date", "2026-11-02"]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "2026-11-02"
    assert (run / "models" / "qriql" / "model.pt").is_file()
    query = CliRunner().invoke(
        main, ["sql", "--run", str(run), "--format", "csv",
               "SELECT count(*) AS n FROM mental_rewards JOIN trajectories USING (event_id)"]
    )
    assert query.exit_code == 0, query.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert int(query.output.splitlines()[1]) == manifest["rows"]["fit_qriql"]["mental_rewards"] > 0


def test_next_night_warm_starts_from_the_previous_model(first_run, partitioned_logs, fast_config):
    runs, _ = first_run
    result = _nightly(partitioned_logs, runs, fast_config, "--date", "2026-11-02")
    assert result.exit_code == 0, result.output
    manifest = json.loads((runs / "2026-11-02" / "manifest.json").read_text())
    assert manifest["warm_started_from"].endswith("2026-11-01/models/iglp")
    assert manifest["metrics"]["fit_igl"]["warm_started"] is True
    fresh = _nightly(partitioned_logs, runs, fast_config, "--date", "2026-11-02", "--fresh")
    assert fresh.exit_code == 0, fresh.output
    assert json.loads((runs / "2026-11-02" / "manifest.json").read_text())["warm_started_from"] is None


def test_bad_segments_file_is_named_and_publishes_nothing(partitioned_logs, fast_config, tmp_path):
    import polars as pl

    segments = tmp_path / "segments.parquet"
    pl.DataFrame({"user_id": [1, 1], "segment": ["a", "b"]}).write_parquet(segments)
    runs = tmp_path / "runs"
    result = _nightly(partitioned_logs, runs, fast_config, "--date", "2026-11-01", "--segments", str(segments))
    assert result.exit_code == 2
    assert "segments.parquet: column 'user_id', value 1 has several segments" in result.output
    assert not (runs / "2026-11-01").exists()


def test_csv_logs_with_string_ids(partitioned_logs, fast_config, tmp_path):
    import json as _json

    import polars as pl

    frame = pl.read_parquet(next(partitioned_logs.glob("date=2026-11-01/*.parquet"))).head(600)
    csv = frame.with_columns(
        ("e" + pl.col("event_id").cast(pl.String)).alias("event_id"),
        ("u" + pl.col("user_id").cast(pl.String)).alias("user_id"),
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ").alias("ts"),
        pl.col("context").map_elements(lambda v: _json.dumps(list(v)), return_dtype=pl.String),
        pl.col("candidate_actions").map_elements(lambda v: _json.dumps(list(v)), return_dtype=pl.String),
    ).drop("action_probs", "reward")
    path = tmp_path / "logs.csv"
    csv.write_csv(path)
    result = _nightly(path, tmp_path / "runs", fast_config, "--date", "2026-11-01")
    assert result.exit_code == 0, result.output
    decoded = pl.read_parquet(tmp_path / "runs" / "2026-11-01" / "decoded_rewards.parquet")
    assert decoded.height == 600 and decoded["user_id"].dtype == pl.String

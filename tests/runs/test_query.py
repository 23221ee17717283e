"""Read-only SQL over a run folder."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from offline_rl.data.prepare import prepare
from offline_rl.runs.query import describe_run, query_run


@pytest.fixture
def run_dir(log_file, tmp_path):
    run = tmp_path / "runs" / "2026-11-01"
    prepare(log_file, run)
    pl.DataFrame(
        {"event_id": [100, 101], "user_id": [0, 1], "feedback": ["none", "click"], "k_p_hat": [0.5, 3.0],
         "is_extreme": [False, True], "decoded_reward": [0.0, 1.0]}
    ).write_parquet(run / "decoded_rewards.parquet")
    return run


def test_views_are_named_after_outputs(run_dir):
    names = {view.name for view in describe_run(run_dir)}
    assert {"ik_training_set", "user_trajectories", "trajectories", "decoded_rewards"} <= names


def test_select_and_shipped_analysis_query(run_dir):
    assert query_run(run_dir, "SELECT COUNT(*) AS n FROM trajectories").to_pylist() == [{"n": 12}]
    from offline_rl.data.sql_jobs import get_model

    result = query_run(run_dir, get_model("decoded_reward_by_signal").body)
    assert sorted(result.column("feedback").to_pylist()) == ["click", "none"]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("CREATE TABLE t AS SELECT 1", "refused a CREATE statement"),
        ("DROP VIEW lift", "refused a DROP statement"),
        ("COPY decoded_rewards TO 'stolen.csv'", "refused a COPY statement"),
        ("SELECT * FROM read_csv('/etc/hostname')", "Permission Error"),
        ("SELECT 1; SELECT 2", "exactly one SQL statement"),
    ],
)
def test_writes_and_other_files_are_refused(run_dir, statement, message):
    before = sorted(path.name for path in run_dir.iterdir())
    with pytest.raises(ValueError, match=message):
        query_run(run_dir, statement)
    assert sorted(path.name for path in run_dir.iterdir()) == before


def test_cli_formats(run_dir, tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["sql", "--run", str(run_dir), "--list"])
    assert listed.exit_code == 0 and "decoded_rewards" in listed.output
    csv = runner.invoke(main, ["sql", "--run", str(run_dir), "--format", "csv", "SELECT feedback FROM decoded_rewards ORDER BY 1"])
    assert csv.output.splitlines() == ["feedback", "click", "none"]
    out = tmp_path / "result.parquet"
    written = runner.invoke(main, ["sql", "--run", str(run_dir), "--format", "parquet", "--output", str(out), "SELECT * FROM lift_missing"])
    assert written.exit_code == 2 and "lift_missing" in written.output and not out.exists()
    refused = runner.invoke(main, ["sql", "--run", str(run_dir), "DELETE FROM decoded_rewards"])
    assert refused.exit_code == 2 and "read-only" in refused.output


def test_segment_analysis_runs_without_a_segments_table(run_dir):
    from offline_rl.data.sql_jobs import get_model

    result = query_run(run_dir, get_model("extreme_rate_by_segment").body).to_pylist()
    assert {row["segment"] for row in result} == {"all"}
    assert sum(row["events"] for row in result) == 2


def test_export_writes_files_atomically_or_returns_text(run_dir, tmp_path):
    from offline_rl.runs.query import export_query

    query = "SELECT feedback, decoded_reward FROM decoded_rewards ORDER BY 1"
    assert export_query(run_dir, query, output_format="csv") == "feedback,decoded_reward\nclick,1.0\nnone,0.0\n"
    assert export_query(run_dir, query, output_format="parquet", output=tmp_path / "r.parquet") is None
    assert pl.read_parquet(tmp_path / "r.parquet")["feedback"].to_list() == ["click", "none"]
    assert export_query(run_dir, query, output_format="json", output=tmp_path / "r.json") is None
    assert (tmp_path / "r.json").read_text().startswith('[{"feedback":"click"')
    with pytest.raises(ValueError, match="the parquet format writes a file"):
        export_query(run_dir, query, output_format="parquet")
    with pytest.raises(ValueError, match="output format 'xlsx' is not one of"):
        export_query(run_dir, query, output_format="xlsx")
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temp file left

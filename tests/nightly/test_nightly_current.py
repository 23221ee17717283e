"""``runs/current``: points at the newest promoted run, swapped atomically, repaired after a crash."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from offline_rl.nightly import pipeline
from offline_rl.nightly.config import build_config, read_config_file
from offline_rl.nightly.current import CURRENT, current_target, update_current
from offline_rl.nightly.promotion import PROMOTED, decide


def _run(runs: Path, date: str, decision: str | None) -> Path:
    folder = runs / date
    folder.mkdir(parents=True)
    manifest = {"date": date} if decision is None else {"date": date, "promotion": {"decision": decision}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_current_follows_the_newest_promoted_run(tmp_path):
    runs = tmp_path / "runs"
    assert update_current(runs) is None and not (runs / CURRENT).exists()
    _run(runs, "2026-11-01", "promoted")
    _run(runs, "2026-11-02", "held_back")
    _run(runs, "2026-11-03", None)  # a run from before the gate: no decision
    assert update_current(runs) == "2026-11-01"
    assert os.readlink(runs / CURRENT) == "2026-11-01"  # relative: the runs folder can move
    assert json.loads((runs / CURRENT / "manifest.json").read_text())["date"] == "2026-11-01"
    _run(runs, "2026-11-04", "promoted")
    assert update_current(runs) == "2026-11-04" == current_target(runs)
    (runs / "2026-11-04" / "manifest.json").write_text(json.dumps({"promotion": {"decision": "held_back"}}))
    assert update_current(runs) == "2026-11-01"
    (runs / "2026-11-01" / "manifest.json").write_text(json.dumps({"promotion": {"decision": "held_back"}}))
    assert update_current(runs) is None and not (runs / CURRENT).is_symlink()
    assert sorted(path.name for path in runs.iterdir()) == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]


def test_a_folder_named_current_is_not_overwritten(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "2026-11-01", "promoted")
    (runs / CURRENT).mkdir()
    with pytest.raises(ValueError, match="exists and is not a symbolic link"):
        update_current(runs)


def _always_promoted(rule, **kwargs):
    return dataclasses.replace(decide(rule, **kwargs), decision=PROMOTED, reasons=("promoted by the test",))


@pytest.fixture(scope="module")
def promoted_then_held_back(partitioned_logs, fast_config, tmp_path_factory):
    """Night 1 promoted (the gate forced open), night 2 held back by the real gate."""
    runs = tmp_path_factory.mktemp("runs")
    settings = read_config_file(fast_config)

    def config(date):
        return build_config(settings, logs=str(partitioned_logs), date=date, runs_dir=str(runs), fit_qriql=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "decide", _always_promoted)
        first = pipeline.run_nightly(config("2026-11-01"), quiet=True)
    second = pipeline.run_nightly(config("2026-11-02"), quiet=True)
    return runs, first, second


def test_a_held_back_run_leaves_current_on_the_last_promoted_one(promoted_then_held_back):
    runs, first, second = promoted_then_held_back
    assert first.decision == "promoted" and first.current == "2026-11-01"
    assert second.decision == "held_back", second.manifest["promotion"]
    assert second.current == "2026-11-01" == current_target(runs)
    summary = second.summary().splitlines()
    assert summary[0] == "nightly run 2026-11-02: HELD BACK: the serving policy stays"
    assert summary[1].startswith("  - ") and "  runs/current: 2026-11-01" in summary
    recorded = second.manifest["promotion"]
    assert recorded["decision"] == "held_back" and recorded["reasons"] and recorded["rule"]["primary_metric"] == "click"
    html = (second.run_dir / "report.html").read_text()
    assert html.index("id='decision'") < html.index("<h2>Lift")
    assert "HELD BACK" in html and recorded["reasons"][0].replace("'", "&#x27;") in html


def test_sql_and_evaluate_read_the_current_run(promoted_then_held_back, partitioned_logs, tmp_path):
    runs, first, _ = promoted_then_held_back
    scored = pl.read_parquet(first.run_dir / "policy_scores.parquet")
    query = CliRunner().invoke(main, ["sql", "--run", "current", "--runs", str(runs), "--format", "csv",
                                      "SELECT count(*) AS n FROM policy_scores"])
    assert query.exit_code == 0, query.output
    assert int(query.output.splitlines()[1]) == scored.height
    by_path = CliRunner().invoke(main, ["sql", "--run", str(runs / "current"), "SELECT 1 AS one"])
    assert by_path.exit_code == 0, by_path.output
    missing = CliRunner().invoke(main, ["sql", "--run", "2030-01-01", "--runs", str(runs), "SELECT 1"])
    assert missing.exit_code == 2 and "run folder 2030-01-01 does not exist" in missing.output
    logs = pl.read_parquet(partitioned_logs / "**" / "*.parquet", hive_partitioning=False)
    evaluation_logs = tmp_path / "evaluation.parquet"
    logs.filter(pl.col("event_id").is_in(scored["event_id"].implode())).drop("reward").write_parquet(evaluation_logs)
    evaluated = CliRunner().invoke(main, ["evaluate", str(evaluation_logs), "--policy", str(runs / "current"),
                                          "--out", str(tmp_path / "report"), "--replicates", "20"])
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "report" / "report.html").is_file()


def test_a_crash_before_the_swap_is_repaired_by_the_next_invocation(partitioned_logs, fast_config, tmp_path):
    runs = tmp_path / "runs"
    config = build_config(read_config_file(fast_config), logs=str(partitioned_logs), date="2026-11-01",
                          runs_dir=str(runs), fit_qriql=False)

    class Killed(Exception):
        pass

    def crash(_runs):
        raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "decide", _always_promoted)
        patch.setattr(pipeline, "update_current", crash)
        with pytest.raises(Killed):
            pipeline.run_nightly(config, quiet=True)
    assert (runs / "2026-11-01" / "manifest.json").is_file() and not (runs / CURRENT).exists()
    again = pipeline.run_nightly(config, quiet=True)
    assert again.up_to_date and again.current == "2026-11-01" == current_target(runs)
    assert not [path for path in runs.iterdir() if path.name.startswith(f".{CURRENT}")]


def test_held_back_exit_code(partitioned_logs, fast_config, tmp_path):
    arguments = ["nightly", str(partitioned_logs), "--runs", str(tmp_path), "--config", str(fast_config),
                 "--quiet", "--no-qriql", "--date", "2026-11-01"]
    default = CliRunner().invoke(main, arguments)
    assert default.exit_code == 0, default.output
    assert default.output.startswith("nightly run 2026-11-01: HELD BACK")
    flagged = CliRunner().invoke(main, [*arguments, "--held-back-exit-code", "3"])
    assert flagged.exit_code == 3 and "up to date (held back)" in flagged.output

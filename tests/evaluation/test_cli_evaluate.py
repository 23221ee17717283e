"""``offline-rl evaluate`` end to end on a small canonical log, and its bad-input table."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from tests.conftest import make_log_rows, rows_to_table


@pytest.fixture
def small_log(tmp_path):
    rows = make_log_rows(400, seed=3, n_actions=4, users=20)
    rng = np.random.default_rng(0)
    rows["feedback"] = [
        str(s)
        for s in rng.choice(["none", "click", "like", "dislike"], 400, p=[0.5, 0.25, 0.15, 0.1])
    ]
    path = tmp_path / "logs.parquet"
    pq.write_table(rows_to_table(rows), path)
    return path, rows


def write_scores(path, event_ids, **columns):
    pl.DataFrame({"event_id": event_ids, **columns}).write_parquet(path)
    return path


def test_evaluate_writes_the_report(tmp_path, small_log):
    logs, rows = small_log
    rng = np.random.default_rng(1)
    scores = write_scores(
        tmp_path / "scores.parquet",
        rows["event_id"][::-1],
        greedy=rng.uniform(0, 1, 400),
        uniform=np.full(400, 0.25),
    )
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(logs),
            "--policy",
            str(scores),
            "--out",
            str(out),
            "--replicates",
            "200",
            "--segment-column",
            "user_id",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lift [95% CI]" in result.output and "click" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == "1"
    assert report["data"]["metrics"] == ["click", "like", "dislike"]
    assert report["data"]["policies"] == ["greedy", "uniform"]
    lift = pl.read_parquet(out / "lift.parquet")
    assert lift.columns[:6] == ["policy", "metric", "estimator", "lower", "point", "upper"]
    assert lift.height == 2 * 3 * 4
    # the uniform candidate equals the logging policy: zero lift for IPS and SNIPS
    same = lift.filter(pl.col("policy") == "uniform", pl.col("estimator").is_in(["ips", "snips"]))
    np.testing.assert_allclose(same["point"].to_numpy(), 0.0, atol=1e-12)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3
    assert "http://" not in page and "https://" not in page


def test_evaluate_against_a_baseline_policy(tmp_path, small_log):
    logs, rows = small_log
    rng = np.random.default_rng(2)
    scores = write_scores(tmp_path / "scores.parquet", rows["event_id"],
                          greedy=rng.uniform(0, 1, 400), production=rng.uniform(0, 1, 400))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["evaluate", str(logs), "--policy", str(scores), "--out",
                                       str(out), "--replicates", "50", "--baseline", "production"])
    assert result.exit_code == 0, result.output
    lift = pl.read_parquet(out / "lift.parquet")
    assert set(lift["policy"]) == {"greedy"} and set(lift["baseline"]) == {"production"}
    assert "V(production)" in (out / "report.html").read_text()
    bad = CliRunner().invoke(main, ["evaluate", str(logs), "--policy", str(scores), "--out",
                                    str(tmp_path / "bad"), "--baseline", "nope"])
    assert bad.exit_code == 2 and "baseline policy 'nope'" in bad.output
    assert not (tmp_path / "bad").exists()


def test_evaluate_reads_a_run_folder_with_learning_curves(tmp_path, small_log):
    logs, rows = small_log
    run = tmp_path / "run"
    run.mkdir()
    write_scores(run / "policy_scores.parquet", rows["event_id"], candidate=np.full(400, 0.4))
    pl.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.6, 0.5]}).write_parquet(
        run / "learning_curve.parquet"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(logs),
            "--policy",
            str(run),
            "--out",
            str(out),
            "--interval",
            "delta",
            "--replicates",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Learning curves" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"candidate": "nan"}, r"column 'candidate' row 5 \(event_id 105\) is NaN"),
        (
            {"candidate": "big"},
            r"column 'candidate' row 5 \(event_id 105\) is outside \[0, 1\]: 1.5",
        ),
        (
            {"candidate": "missing"},
            r"logged event_id 499 \(logs row 399\) has no score; 1 of 400 logged events are missing",
        ),
        ({"candidate": "text"}, r"column 'candidate' must hold probabilities \(numbers\)"),
        ({"candidate": "duplicate"}, r"event_id 100 appears more than once"),
        ({}, r"no policy column"),
    ],
)
def test_bad_scores_exit_2_and_write_nothing(tmp_path, small_log, columns, message):
    logs, rows = small_log
    ids = list(rows["event_id"])
    values = np.full(400, 0.3)
    kind = columns.get("candidate")
    data = {}
    if kind == "nan":
        values[5] = np.nan
    elif kind == "big":
        values[5] = 1.5
    elif kind == "missing":
        ids, values = ids[:-1], values[:-1]
    elif kind == "duplicate":
        ids[1] = ids[0]
    if kind == "text":
        data["candidate"] = ["x"] * 400
    elif kind is not None:
        data["candidate"] = values
    scores = write_scores(tmp_path / "scores.parquet", ids, **data)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["evaluate", str(logs), "--policy", str(scores), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "error:" in result.output
    assert str(scores) in result.output
    import re

    assert re.search(message, result.output), result.output
    assert not out.exists()


def test_bad_logs_and_options_exit_2(tmp_path, small_log):
    logs, rows = small_log
    scores = write_scores(tmp_path / "s.parquet", rows["event_id"], candidate=np.full(400, 0.3))
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "nope.parquet"),
            "--policy",
            str(scores),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(
        main,
        [
            "evaluate",
            str(logs),
            "--policy",
            str(scores),
            "--out",
            str(tmp_path / "o"),
            "--metric",
            "clck",
        ],
    )
    assert result.exit_code == 2 and "Metric 'clck' never occurs" in result.output
    result = runner.invoke(
        main,
        [
            "evaluate",
            str(logs),
            "--policy",
            str(scores),
            "--out",
            str(tmp_path / "o"),
            "--weight-cap",
            "-1",
        ],
    )
    assert result.exit_code == 2 and "weight_cap" in result.output
    result = runner.invoke(
        main,
        ["evaluate", str(logs), "--policy", str(scores), "--out", str(tmp_path / "o"), "--segment-column", "country"],
    )
    assert result.exit_code == 2 and 'unable to find segment column "country"' in result.output
    assert not (tmp_path / "o").exists()


def test_evaluation_never_imports_torch():
    code = (
        "import sys, offline_rl.evaluation, offline_rl.evaluation.report, offline_rl.cli.evaluate; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _reward_model_frame(rows, **policies):
    ids = list(rows["event_id"])
    n = len(ids)
    return pl.DataFrame(
        {
            "event_id": ids * 2,
            "metric": ["click"] * n + ["like"] * n,
            "logged": np.full(2 * n, 0.2),
            **{name: np.full(2 * n, value) for name, value in policies.items()},
        }
    )


def test_evaluate_with_a_reward_model_reports_dm_and_dr(tmp_path, small_log):
    logs, rows = small_log
    scores = write_scores(tmp_path / "s.parquet", rows["event_id"], candidate=np.full(400, 0.4))
    model = tmp_path / "q.parquet"
    _reward_model_frame(rows, candidate=0.3).write_parquet(model)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["evaluate", str(logs), "--policy", str(scores), "--out",
                                       str(out), "--replicates", "50", "--reward-model", str(model)])
    assert result.exit_code == 0, result.output
    lift = pl.read_parquet(out / "lift.parquet")
    dm = lift.filter(metric="click", estimator="dm").row(0, named=True)
    assert dm["candidate_value"] == pytest.approx(0.3)
    dr = lift.filter(metric="click", estimator="dr").row(0, named=True)
    clicks = np.array([f == "click" for f in rows["feedback"]], dtype=float)
    weights = 0.4 / np.asarray(rows["propensity"])
    assert dr["candidate_value"] == pytest.approx(np.mean(0.3 + weights * (clicks - 0.2)))
    assert lift.filter(metric="dislike", estimator="dm").height == 0  # no model for it
    report = json.loads((out / "report.json").read_text())
    assert report["resampling"]["unit"] == "users"  # 20 users repeat: auto resamples users


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("logged"), r'unable to find column "logged" \(a required column\)'),
        (lambda f: f.drop("candidate"), r'unable to find column "candidate" \(a policy column\)'),
        (lambda f: f.with_columns(pl.lit(1.0).alias("other")), r"column 'other' is neither"),
        (
            lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("logged")).alias("logged")),
            r"column 'logged' row 7 \(event_id 107, metric 'click'\) is None; a finite predicted reward",
        ),
        (
            lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("candidate")).alias("candidate")),
            r"column 'candidate' row 3 \(event_id 103, metric 'click'\) is nan",
        ),
        (lambda f: f.slice(1), r"logged event_id 100 \(logs row 0\) has no prediction for metric 'click'"),
        (
            lambda f: pl.concat([f, f.head(1)]),
            r"column 'event_id' row 0: event_id 100 appears more than once for metric 'click'",
        ),
        (
            lambda f: f.with_columns(pl.lit("clck").alias("metric")),
            r"column 'metric' row 0 is 'clck', a signal that never occurs",
        ),
    ],
)
def test_bad_reward_model_exits_2_and_writes_nothing(tmp_path, small_log, change, message):
    logs, rows = small_log
    scores = write_scores(tmp_path / "s.parquet", rows["event_id"], candidate=np.full(400, 0.4))
    model = tmp_path / "q.parquet"
    change(_reward_model_frame(rows, candidate=0.3)).write_parquet(model)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["evaluate", str(logs), "--policy", str(scores), "--out",
                                       str(out), "--reward-model", str(model)])
    assert result.exit_code == 2, result.output
    assert str(model) in result.output
    import re

    assert re.search(message, result.output), result.output
    assert not out.exists()

"""The temporal hold-out: where the cut falls, and that no evaluation event reaches a fit."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.config import ConfigError
from offline_rl.data.prepare import user_trajectories
from offline_rl.nightly import pipeline
from offline_rl.nightly.config import build_config, read_config_file
from offline_rl.nightly.split import (
    HoldoutConfig,
    is_evaluation,
    temporal_split,
    training_trajectories,
)

UTC = dt.UTC


def _stamps(*hours: float) -> pl.Series:
    base = dt.datetime(2026, 11, 1, tzinfo=UTC)
    return pl.Series("ts", [base + dt.timedelta(hours=h) for h in hours], dtype=pl.Datetime("us", "UTC"))


def test_a_multi_day_window_holds_out_its_last_day_from_midnight():
    ts = _stamps(1, 5, 23.5, 24.0, 30, 47)
    split = temporal_split(ts, ("2026-11-01", "2026-11-02"), HoldoutConfig())
    assert split.to_dict() == {
        "train_events": 3, "evaluation_events": 3,
        "train_until": "2026-11-01T23:30:00+00:00", "evaluate_from": "2026-11-02T00:00:00+00:00",
        "rule": "the window's last day of 2, from 2026-11-02",
    }
    three_days = temporal_split(_stamps(1, 2, 25, 49), ("2026-11-01", "2026-11-02", "2026-11-03"),
                                HoldoutConfig(holdout_days=2))
    assert (three_days.train_events, three_days.evaluation_events) == (2, 2)
    assert three_days.to_dict()["evaluate_from"] == "2026-11-02T00:00:00+00:00"


def test_holdout_days_leave_a_day_to_train_on_else_the_fraction_rule_applies():
    ts = _stamps(0, 1, 2, 3, 4, 24, 25, 26, 27, 28)
    split = temporal_split(ts, ("2026-11-01", "2026-11-02"), HoldoutConfig(holdout_days=2, holdout_fraction=0.3))
    assert split.rule == "the latest 30% of the window's events by time"
    assert (split.train_events, split.evaluation_events) == (7, 3)


def test_a_single_day_holds_out_the_latest_fraction_and_ties_go_to_evaluation():
    split = temporal_split(_stamps(0, 1, 2, 2, 3), ("2026-11-01",), HoldoutConfig(holdout_fraction=0.4))
    # the cut is the 4th event's time; the 3rd shares it, so 3 events are evaluated, not 2
    assert (split.train_events, split.evaluation_events) == (2, 3)
    assert split.to_dict()["evaluate_from"] == "2026-11-01T02:00:00+00:00"
    assert split.to_dict()["train_until"] == "2026-11-01T01:00:00+00:00"
    unpartitioned = temporal_split(_stamps(*range(10)), (), HoldoutConfig())
    assert (unpartitioned.train_events, unpartitioned.evaluation_events) == (8, 2)


@pytest.mark.parametrize(
    ("ts", "dates", "message"),
    [
        (_stamps(1, 1, 1, 1), (), "leaves 0 event(s) to fit on and 4 to evaluate on"),
        (_stamps(1, 2, 3), ("2026-11-01", "2026-11-03"), "leaves 3 event(s) to fit on and 0 to evaluate on"),
        (_stamps(1, 30), ("2026-11-01", "2026-11-02"), "leaves 1 event(s) to fit on"),
    ],
    ids=["all-at-one-time", "empty-last-day", "one-training-event"],
)
def test_a_window_too_small_to_split_is_a_clear_error(ts, dates, message):
    with pytest.raises(ValueError, match="cannot hold out") as raised:
        temporal_split(ts, dates, HoldoutConfig())
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"holdout_days": 0}, "'holdout_days' parameter of HoldoutConfig must be an int >= 1. Got 0"),
        ({"holdout_fraction": 1.0}, "'holdout_fraction' parameter of HoldoutConfig must be a float in (0, 1). Got 1.0"),
        ({"holdout_fraction": 0}, "'holdout_fraction' parameter of HoldoutConfig must be a float in (0, 1). Got 0"),
    ],
)
def test_bad_holdout_settings(settings, message):
    with pytest.raises(ConfigError) as raised:
        HoldoutConfig(**settings)
    assert message in str(raised.value)


def test_training_trajectories_equal_the_sql_job_on_the_training_events_alone(partitioned_logs):
    logs = pl.read_parquet(partitioned_logs / "**" / "*.parquet", hive_partitioning=False).drop("reward")
    cut = logs["ts"].sort()[int(0.6 * logs.height)]
    # a cut in the middle of many sessions: the kept steps whose next step is evaluated must end there
    everything = user_trajectories(logs)
    crossing = everything.filter(~is_evaluation(cut), pl.col("next_event_id").is_in(
        everything.filter(is_evaluation(cut))["event_id"].implode()))
    assert crossing.height > 0
    expected = user_trajectories(logs.filter(~is_evaluation(cut)))
    assert_frame_equal(training_trajectories(everything, cut), expected)


@pytest.fixture(scope="module")
def captured_run(partitioned_logs, fast_config, tmp_path_factory):
    """A two-day run with QR-IQL whose learners' training frames are captured."""
    from offline_rl.igl.learner import IGLP
    from offline_rl.qriql.learner import QRIQL

    seen: dict[str, pl.DataFrame] = {}
    igl_fit, qriql_fit = IGLP.fit_decode, QRIQL.fit

    # fit() is fit_decode() without the decoded rows; the nightly calls fit_decode
    def capture_igl(self, frame, **kwargs):
        seen["igl"] = frame
        return igl_fit(self, frame, **kwargs)

    def capture_qriql(self, frame, **kwargs):
        seen["qriql"] = frame
        return qriql_fit(self, frame, **kwargs)

    config = build_config(read_config_file(fast_config), logs=str(partitioned_logs), date="2026-11-02",
                          window_days=2, runs_dir=str(tmp_path_factory.mktemp("runs")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IGLP, "fit_decode", capture_igl)
        patch.setattr(QRIQL, "fit", capture_qriql)
        result = pipeline.run_nightly(config, quiet=True)
    return result, seen


def test_no_evaluation_event_reaches_a_fit(captured_run):
    result, seen = captured_run
    split = result.manifest["split"]
    cut = dt.datetime.fromisoformat(split["evaluate_from"])
    assert split["evaluate_from"] == "2026-11-02T00:00:00+00:00"
    evaluation = pl.read_parquet(result.run_dir / "prepared" / "ik_training_set.parquet").filter(is_evaluation(cut))
    assert evaluation.height == split["evaluation_events"] > 0
    held_out = set(evaluation["event_id"].to_list())
    assert seen["igl"].height == split["train_events"]
    assert not held_out & set(seen["igl"]["event_id"].to_list())
    assert seen["igl"]["ts"].max() < cut
    steps = seen["qriql"]
    assert not held_out & set(steps["event_id"].to_list())
    assert not held_out & set(steps["next_event_id"].drop_nulls().to_list())
    assert steps["ts"].max() < cut


def test_scores_hold_exactly_the_evaluation_events_and_rewards_cover_all(captured_run):
    result, _ = captured_run
    split = result.manifest["split"]
    cut = dt.datetime.fromisoformat(split["evaluate_from"])
    prepared = pl.read_parquet(result.run_dir / "prepared" / "ik_training_set.parquet")
    expected = prepared.filter(is_evaluation(cut))["event_id"].sort()
    assert pl.read_parquet(result.run_dir / "policy_scores.parquet")["event_id"].sort().equals(expected)
    decoded = pl.read_parquet(result.run_dir / "decoded_rewards.parquet")
    assert decoded["event_id"].sort().equals(prepared["event_id"].sort())
    assert decoded.filter(pl.col("split") == "evaluation")["event_id"].sort().equals(expected)
    mental = pl.read_parquet(result.run_dir / "mental_rewards.parquet")
    assert mental.height == prepared.height
    assert mental.filter(pl.col("split") == "evaluation")["event_id"].sort().equals(expected)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["data"]["n_events"] == split["evaluation_events"]
    assert result.manifest["rows"]["fit_igl"]["train_events"] == split["train_events"]

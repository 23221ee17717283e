"""``fit_to_folder``: fit, decode out of fold, save and write decoded_rewards.parquet as one call."""

from __future__ import annotations

import polars as pl
import pytest
from igl_fixtures import PLANTED_CONFIG, planted_frame

from offline_rl.errors import HiddenRewardError
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.folder import DECODED_REWARDS_FILE, fit_to_folder, with_logging_distribution
from offline_rl.igl.learner import IGLP

CONFIG = IGLPConfig(**PLANTED_CONFIG)


@pytest.fixture(scope="module")
def frame():
    return planted_frame(1500)


def test_writes_the_artifact_and_the_out_of_fold_decoded_rows(tmp_path, frame):
    fitted = fit_to_folder(frame, tmp_path / "model", config=CONFIG)
    assert fitted.decoded_path == tmp_path / "model" / DECODED_REWARDS_FILE
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json", DECODED_REWARDS_FILE, "manifest.json", "model.pt", "vocabularies.parquet"]
    assert pl.read_parquet(fitted.decoded_path).equals(fitted.decoded)
    # the file holds what the policy trained on: the out-of-fold decoding, not decode()'s
    # ensemble of models that mostly trained on these rows
    assert fitted.decoded.equals(IGLP(CONFIG).fit_decode(frame))
    assert not fitted.decoded.equals(IGLP.load(tmp_path / "model").decode(frame))
    metrics = fitted.metrics
    assert metrics["extreme_rate"] == pytest.approx(fitted.decoded["is_extreme"].mean(), abs=1e-6)
    assert metrics["warm_started"] is False and metrics["ik_found_signal"] is True
    assert metrics["ik_held_out_nll"] < metrics["ik_no_signal_nll"]


def test_decoded_rows_may_go_elsewhere_and_a_warm_start_is_checked_too(tmp_path, frame):
    first = fit_to_folder(frame.head(700), tmp_path / "first", config=CONFIG)
    fitted = fit_to_folder(frame.tail(800), tmp_path / "models" / "iglp", config=CONFIG,
                           decoded_path=tmp_path / "decoded.parquet", warm_start=first.model)
    assert (tmp_path / "decoded.parquet").is_file()
    assert not (tmp_path / "models" / "iglp" / DECODED_REWARDS_FILE).exists()
    assert fitted.metrics["warm_started"] is True
    assert fitted.metrics["ik_found_signal"] is True  # the signal check runs on warm nights


def test_a_failed_fit_writes_nothing(tmp_path, frame):
    with pytest.raises(HiddenRewardError):
        fit_to_folder(frame.with_columns(pl.lit(1.0).alias("reward")), tmp_path / "model",
                      config=CONFIG)
    assert not (tmp_path / "model").exists()


def test_the_logging_distribution_is_joined_from_parquet_logs(tmp_path, frame):
    logs = frame.select("event_id").with_columns(
        pl.col("event_id").map_elements(lambda e: [0.5, 0.5], return_dtype=pl.List(pl.Float64))
        .alias("action_probs"))
    logs.reverse().write_parquet(tmp_path / "logs.parquet")
    joined = with_logging_distribution(frame, tmp_path / "logs.parquet")
    assert joined["action_probs"].to_list()[:2] == [[0.5, 0.5]] * 2
    assert joined.drop("action_probs").equals(frame)
    frame.select("event_id").write_parquet(tmp_path / "bare.parquet")
    assert with_logging_distribution(frame, tmp_path / "bare.parquet").equals(frame)

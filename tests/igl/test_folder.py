"""``fit_to_folder``: fit, decode, save and write decoded_rewards.parquet as one call."""

from __future__ import annotations

import polars as pl
import pytest
from igl_fixtures import SMALL_CONFIG, variable_k_frame

from offline_rl.errors import HiddenRewardError
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.folder import DECODED_REWARDS_FILE, fit_to_folder
from offline_rl.igl.learner import IGLP

TINY = IGLPConfig(**dict(SMALL_CONFIG, ik_epochs=2, ik_warmup_epochs=1, policy_epochs=2))


def test_writes_the_artifact_and_the_decoded_training_rows(tmp_path):
    frame = variable_k_frame()
    fitted = fit_to_folder(frame, tmp_path / "model", config=TINY)
    assert fitted.decoded_path == tmp_path / "model" / DECODED_REWARDS_FILE
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json", DECODED_REWARDS_FILE, "manifest.json", "model.pt"]
    assert pl.read_parquet(fitted.decoded_path).equals(fitted.decoded)
    assert fitted.decoded.equals(IGLP.load(tmp_path / "model").decode(frame))
    metrics = fitted.metrics
    assert metrics["extreme_rate"] == pytest.approx(fitted.decoded["is_extreme"].mean(), abs=1e-6)
    assert metrics["warm_started"] is False
    # a held-out split (2 restarts): the signal check is reported
    assert metrics["ik_found_signal"] == fitted.model.ik_found_signal_


def test_decoded_rows_may_go_elsewhere_and_a_warm_start_is_recorded(tmp_path):
    frame = variable_k_frame()
    first = fit_to_folder(frame, tmp_path / "first", config=TINY)
    fitted = fit_to_folder(frame, tmp_path / "models" / "iglp", config=TINY,
                           decoded_path=tmp_path / "decoded.parquet", warm_start=first.model)
    assert (tmp_path / "decoded.parquet").is_file()
    assert not (tmp_path / "models" / "iglp" / DECODED_REWARDS_FILE).exists()
    assert fitted.metrics["warm_started"] is True
    assert "ik_found_signal" not in fitted.metrics  # one restart: no held-out split


def test_a_failed_fit_writes_nothing(tmp_path):
    frame = variable_k_frame().with_columns(pl.lit(1.0).alias("reward"))
    with pytest.raises(HiddenRewardError):
        fit_to_folder(frame, tmp_path / "model", config=TINY)
    assert not (tmp_path / "model").exists()

"""The nightly's SQL steps on either engine: same rows, and the engine is not a fingerprint."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.nightly import pipeline
from offline_rl.nightly.config import NightlyConfig, build_config, read_config_file, step_configs


def _settings(config: NightlyConfig) -> dict:
    return pipeline.step_settings(step_configs(config), input_hashes={"a.parquet": "0" * 64},
                                  sql_hashes={"m.sql": "1" * 64}, warm_from=None)


def test_the_engine_reaches_the_sql_steps_but_no_fingerprint():
    duckdb = NightlyConfig(logs="logs/")
    spark = NightlyConfig(logs="logs/", engine="spark", spark_master="spark://host:7077")
    configs = step_configs(spark)
    assert (configs.engine, configs.spark_master) == ("spark", "spark://host:7077")
    assert step_configs(duckdb).engine == "duckdb" and step_configs(duckdb).spark_master is None
    # how the SQL runs, not what it computes: finished steps and runs are re-used
    assert _settings(duckdb) == _settings(spark)
    assert pipeline._effective_settings(duckdb, "2026-11-02") == pipeline._effective_settings(spark, "2026-11-02")


def test_the_cli_passes_the_engine(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from offline_rl.cli import main

    seen = {}

    def fake_run(config, **_):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("offline_rl.cli.nightly.run_nightly", fake_run)
    result = CliRunner().invoke(main, ["nightly", str(tmp_path), "--engine", "spark",
                                       "--spark-master", "local[1]", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (seen["config"].engine, seen["config"].spark_master) == ("spark", "local[1]")
    refused = CliRunner().invoke(main, ["nightly", str(tmp_path), "--spark-master", "local[1]"])
    assert refused.exit_code != 0 and "spark_master" in refused.output


@pytest.mark.spark
def test_a_night_on_spark_prepares_the_rows_duckdb_prepares(spark_engine, partitioned_logs, fast_config,
                                                            tmp_path):
    """The validate and prepare steps on Spark (the session of the test run, local[2]) write the
    rows DuckDB writes; the rest of the night is then the same."""
    runs = {}
    for engine in ("duckdb", "spark"):
        config = build_config(read_config_file(fast_config), logs=str(partitioned_logs), date="2026-11-02",
                              runs_dir=str(tmp_path / engine), engine=engine, fit_qriql=False)
        runs[engine] = pipeline.run_nightly(config, quiet=True)
    for mart in ("ik_training_set", "user_trajectories"):
        frames = [pl.read_parquet(runs[engine].run_dir / "prepared" / f"{mart}.parquet") for engine in runs]
        assert_frame_equal(frames[0], frames[1], check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    manifests = [runs[engine].manifest for engine in runs]
    assert manifests[0]["rows"] == manifests[1]["rows"]
    assert manifests[0]["metrics"]["validate"] == manifests[1]["metrics"]["validate"]
    assert manifests[0]["promotion"]["decision"] == manifests[1]["promotion"]["decision"]

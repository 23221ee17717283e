"""Choosing an engine, and the output contract both engines keep: one Parquet file, INT64
microsecond UTC timestamps, rows in ORDER BY order, written atomically."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pyarrow.parquet as pq
import pytest
from same_rows import assert_same_rows

from offline_rl.data.engines import ENGINES, SqlEngine, sql_engine
from offline_rl.data.engines.duckdb_engine import DuckDBEngine
from offline_rl.data.engines.spark_engine import DEFAULT_MASTER, SESSION_CONF, SparkEngine
from offline_rl.data.prepare import PrepareConfig, signal_responses
from offline_rl.data.sql_jobs import run_sql_job, write_sql_job

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
LOGS = pl.DataFrame(
    {
        "event_id": [3, 1, 2, 4],
        "ts": [T0 + dt.timedelta(seconds=s) for s in (30.25, 0.5, 10.0, 4000.0)],
        "user_id": [7, 7, 7, 7],
        "context": [[0.5], [], [1.5], [2.5]],
        "candidate_actions": [[1, 2], [1, 2], [2, 3], [3]],
        "action": [2, 1, 3, 3],
        "propensity": [0.5, 0.25, 0.5, 1.0],
        "feedback": ["click", "none", "like", "none"],
    },
    schema_overrides={"context": pl.List(pl.Float32), "ts": pl.Datetime("us", "UTC")},
)
CONFIG = PrepareConfig(history_length=2, session_gap_seconds=1800)
VIEWS = {"logs": LOGS, "signal_responses": signal_responses(["click", "like", "none"], CONFIG.negative_signals)}


# ------------------------------------------------------------------------ choosing an engine
def test_engines_by_name():
    assert ENGINES == ("duckdb", "spark")
    assert isinstance(sql_engine(), DuckDBEngine)
    assert sql_engine("duckdb", threads=2).threads == 2
    spark = sql_engine("spark")
    assert isinstance(spark, SparkEngine) and spark.master == DEFAULT_MASTER == "local[2]"
    assert sql_engine("spark", spark_master="spark://head:7077").master == "spark://head:7077"
    assert sql_engine(spark) is spark and isinstance(spark, SqlEngine)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sql_engine("postgres"), r"unknown SQL engine 'postgres'; valid engines: \['duckdb', 'spark'\]"),
        (lambda: sql_engine("duckdb", spark_master="local[4]"), "applies to the spark engine only"),
        (lambda: sql_engine("spark", threads=4), "applies to the duckdb engine only"),
        (lambda: sql_engine("duckdb", threads=0), "integer >= 1"),
        (lambda: sql_engine("spark", spark_master=""), "non-empty string"),
        (lambda: sql_engine("spark", spark_master="sc://host:15002"), "Spark Connect"),
        (lambda: sql_engine(sql_engine("spark"), spark_master="yarn"), "not an engine object"),
        (lambda: SparkEngine(conf={"spark.sql.session.timeZone": "Europe/Paris"}), "fixed by the engine"),
    ],
)
def test_bad_engine_settings_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_spark_engine_needs_no_pyspark_until_it_runs():
    # Building one (as a CLI does from --engine spark) starts nothing.
    engine = sql_engine("spark", spark_master="local[1]")
    assert engine._session is None


def test_engine_settings_every_spark_job_runs_under():
    assert SESSION_CONF["spark.sql.session.timeZone"] == "UTC"
    assert SESSION_CONF["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert SESSION_CONF["spark.sql.timestampType"] == "TIMESTAMP_LTZ"


# -------------------------------------------------------------------- the output contract
def test_write_is_one_parquet_file_with_microsecond_utc_timestamps(engine, tmp_path):
    out = tmp_path / "prepared" / "user_trajectories.parquet"
    rows = write_sql_job("user_trajectories", VIEWS, out, CONFIG.sql_params(), engine=engine)
    assert rows == 4 and out.is_file()
    assert sorted(path.name for path in out.parent.iterdir()) == ["user_trajectories.parquet"]
    ts = pq.ParquetFile(out).schema.column(4)
    assert (ts.name, ts.physical_type) == ("ts", "INT64")
    logical = json.loads(ts.logical_type.to_json())
    assert (logical["Type"], logical["isAdjustedToUTC"], logical["timeUnit"]) == ("Timestamp", True, "microseconds")
    written = pl.read_parquet(out)
    assert written.schema["ts"] == pl.Datetime("us", "UTC")
    assert_same_rows(written, run_sql_job("user_trajectories", VIEWS, CONFIG.sql_params(), engine=engine))
    assert written["event_id"].to_list() == [1, 2, 3, 4]
    assert written["session_id"].to_list() == [0, 0, 0, 1]


def test_write_replaces_an_old_output_whole(engine, tmp_path):
    out = tmp_path / "ik_training_set.parquet"
    out.write_bytes(b"yesterday's mart")
    assert write_sql_job("ik_training_set", {"logs": LOGS}, out, {"max_weight": None}, engine=engine) == 4
    assert pl.read_parquet(out)["event_id"].to_list() == [1, 2, 3, 4]
    assert [path.name for path in tmp_path.iterdir()] == ["ik_training_set.parquet"]


def test_failed_write_leaves_the_old_output_and_no_temporary_files(engine, tmp_path):
    out = tmp_path / "ik_training_set.parquet"
    out.write_bytes(b"yesterday's mart")
    broken = LOGS.with_columns(pl.lit("not a number").alias("propensity"))
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own conversion error
        write_sql_job("ik_training_set", {"logs": broken}, out, {"max_weight": None}, engine=engine)
    assert out.read_bytes() == b"yesterday's mart"
    assert [path.name for path in tmp_path.iterdir()] == ["ik_training_set.parquet"]


def test_parquet_views_read_the_same_on_both_engines(engine, tmp_path):
    """Two files of a Hive-style folder (one without the optional columns): read as given,
    unioned by name, with no partition column added."""
    first, second = tmp_path / "date=2026-11-01" / "part.parquet", tmp_path / "date=2026-11-02" / "part.parquet"
    for path in (first, second):
        path.parent.mkdir()
    LOGS.head(2).with_columns(pl.lit(None, pl.Float64).alias("reward")).write_parquet(first)
    LOGS.tail(2).write_parquet(second)
    result = run_sql_job("ik_training_set", {"logs": [first, second]}, {"max_weight": None}, engine=engine)
    expected = run_sql_job("ik_training_set", {"logs": LOGS}, {"max_weight": None}, engine="duckdb")
    assert_same_rows(expected, result)


@pytest.mark.spark
def test_spark_writes_through_hadoop_file_systems(spark_engine, tmp_path):
    """The rename used off the local disk (hdfs://, s3a://), exercised on file:// paths."""
    from offline_rl.data.engines.spark_engine import _publish

    context = spark_engine.session().sparkContext
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path
    source, target = tmp_path / "part-0.parquet", tmp_path / "mart.parquet"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    file_system = hadoop_path(source.as_uri()).getFileSystem(context._jsc.hadoopConfiguration())
    _publish(file_system, hadoop_path(source.as_uri()), hadoop_path(target.as_uri()), local=False)
    assert target.read_bytes() == b"new" and not source.exists()
    out = f"{tmp_path.as_uri()}/uri/ik_training_set.parquet"
    assert write_sql_job("ik_training_set", {"logs": LOGS}, out, {"max_weight": 2.0}, engine=spark_engine) == 4
    assert pl.read_parquet(tmp_path / "uri" / "ik_training_set.parquet")["weight"].max() == 2.0


@pytest.mark.spark
def test_spark_refuses_a_second_master_in_one_process(spark_engine):
    with pytest.raises(ValueError, match="already running in this process"):
        SparkEngine("local[1]").session()


# ------------------------------------------------------------------ prepare on either engine
@pytest.mark.spark
def test_prepare_writes_the_same_marts_on_spark_as_on_duckdb(spark_engine, tmp_path):
    """``prepare(..., engine=)`` (what ``offline-rl prepare --engine spark`` calls) writes the
    marts DuckDB writes, from the same validated log files."""
    from offline_rl.data.prepare import prepare

    logs = tmp_path / "logs.parquet"
    # valid logs (the fixture's ragged contexts exercise the SQL, not validation)
    LOGS.with_columns(pl.Series("context", [[0.5]] * LOGS.height, dtype=pl.List(pl.Float32))).write_parquet(logs)
    on_duckdb = prepare(logs, tmp_path / "duckdb", config=CONFIG, engine="duckdb")
    on_spark = prepare(logs, tmp_path / "spark", config=CONFIG, engine=spark_engine)
    assert on_spark.rows == on_duckdb.rows and on_spark.rows["ik_training_set"] == LOGS.height
    for mart, path in on_duckdb.outputs.items():
        assert_same_rows(pl.read_parquet(path), pl.read_parquet(on_spark.outputs[mart]))


def test_prepare_command_refuses_a_spark_master_for_duckdb(tmp_path):
    from click.testing import CliRunner

    from offline_rl.cli import main

    logs = tmp_path / "logs.parquet"
    LOGS.write_parquet(logs)
    result = CliRunner().invoke(
        main, ["prepare", str(logs), "--out", str(tmp_path / "out"), "--spark-master", "local[4]"]
    )
    assert result.exit_code == 2, result.output
    assert "applies to the spark engine only" in result.output
    assert not (tmp_path / "out").exists()

"""Engines for the SQL tests: every test that takes ``engine`` runs on DuckDB and on Spark.

The Spark run is marked ``spark`` (deselected by ``make test``, run by ``make test-spark``) and
skipped, with the reason, where pyspark or a Java runtime is missing. One local Spark session
serves the whole test session: starting one costs seconds, a job on it a fraction of that.
"""

from __future__ import annotations

import os
import shutil

import pytest

from offline_rl.data.engines import sql_engine

ENGINE_PARAMS = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture(scope="session")
def spark_engine():
    pytest.importorskip(
        "pyspark", reason="pyspark is not installed; `make test-spark` installs the spark extra"
    )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java 17+ runtime: none on PATH and JAVA_HOME is unset")
    from offline_rl.data.engines.spark_engine import SparkEngine

    engine = SparkEngine(
        "local[2]",
        conf={
            # Two cores, kilobytes to a few MB per test: two shuffle partitions, no web UI.
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "2g",
        },
    )
    engine.session().sparkContext.setLogLevel("ERROR")
    yield engine
    engine.close()


@pytest.fixture
def duckdb_engine():
    return sql_engine("duckdb")


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request):
    """Each engine in turn (the Spark one shared across the test session)."""
    return request.getfixturevalue(f"{request.param}_engine")

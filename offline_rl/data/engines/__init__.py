"""Where a SQL job runs: embedded DuckDB on this machine, or Spark on any cluster.

The runner (:mod:`offline_rl.data.sql_jobs`) composes a job's SELECT (dependencies inlined
as CTEs, in DuckDB's dialect), lints it for portability and binds its parameters; an engine
then only executes it. Both engines read the same views (a Parquet file or list of files,
a polars DataFrame or a pyarrow Table), run the same text, and write the same output: one
Parquet file, zstd-compressed, timestamps in microseconds UTC, renamed into place only once
complete.

==========  ==========================================================================
engine      runs the job
==========  ==========================================================================
duckdb      in this process (:class:`~offline_rl.data.engines.duckdb_engine.DuckDBEngine`)
spark       on a Spark master URL, ``local[2]`` by default, after transpiling the text
            to Spark SQL with sqlglot
            (:class:`~offline_rl.data.engines.spark_engine.SparkEngine`; needs the
            ``spark`` extra: ``pip install 'offline-rl[spark]'``)
==========  ==========================================================================

``sql_engine("spark", spark_master="yarn")`` is the one call a command line needs to turn
``--engine`` and ``--spark-master`` into an engine for
:func:`~offline_rl.data.sql_jobs.run_sql_job` and :func:`~offline_rl.data.sql_jobs.write_sql_job`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pyarrow as pa

#: The engine names :func:`sql_engine` accepts (for a ``Choice`` constraint or a CLI option).
ENGINES: tuple[str, ...] = ("duckdb", "spark")


@runtime_checkable
class SqlEngine(Protocol):
    """Runs one composed, linted SELECT (DuckDB dialect, ``$name`` parameters) over views."""

    name: str

    def run(self, query: str, views: Mapping[str, object], params: Mapping[str, object]) -> pa.Table:
        """The query's rows, in its ORDER BY order, as a pyarrow Table."""
        ...

    def write(
        self,
        query: str,
        views: Mapping[str, object],
        params: Mapping[str, object],
        out_path: str | os.PathLike[str],
    ) -> int:
        """Write the query's rows to one Parquet file at ``out_path`` atomically; the row count."""
        ...


def sql_engine(
    engine: str | SqlEngine = "duckdb",
    *,
    spark_master: str | None = None,
    threads: int | None = None,
) -> SqlEngine:
    """The engine called ``engine`` (one of :data:`ENGINES`), or ``engine`` itself.

    Parameters
    ----------
    engine
        ``"duckdb"`` or ``"spark"``; an engine object is returned unchanged.
    spark_master
        Spark master URL (``local[2]``, ``local[*]``, ``spark://host:7077``, ``yarn``,
        ``k8s://...``); Spark only, ``local[2]`` when omitted.
    threads
        DuckDB worker threads (all cores when omitted); DuckDB only.
    """
    if not isinstance(engine, str):
        if not isinstance(engine, SqlEngine):
            raise TypeError(f"engine must be one of {list(ENGINES)} or an SqlEngine; got {engine!r}")
        if spark_master is not None or threads is not None:
            raise ValueError("spark_master and threads configure a named engine, not an engine object")
        return engine
    if engine == "duckdb":
        if spark_master is not None:
            raise ValueError(f"spark_master={spark_master!r} applies to the spark engine only, not duckdb")
        from offline_rl.data.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine(threads=threads)
    if engine == "spark":
        if threads is not None:
            raise ValueError("threads applies to the duckdb engine only; size Spark with its master URL")
        from offline_rl.data.engines.spark_engine import DEFAULT_MASTER, SparkEngine

        return SparkEngine(master=DEFAULT_MASTER if spark_master is None else spark_master)
    raise ValueError(f"unknown SQL engine {engine!r}; valid engines: {list(ENGINES)}")


__all__ = ["ENGINES", "SqlEngine", "sql_engine"]

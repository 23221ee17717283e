"""The DuckDB engine: SQL jobs in this process, streaming Parquet in and out in bounded memory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from offline_rl.data.atomic import atomic_path

#: DuckDB's memory ceiling; above it sorts and windows spill to a temporary folder, which
#: keeps a 10M-event job under 2 GiB of resident memory instead of ~6 GiB.
DEFAULT_MEMORY_LIMIT = "1500MB"


class DuckDBEngine:
    """Run SQL jobs on an embedded DuckDB connection (one per job).

    Parameters
    ----------
    threads
        Worker threads; DuckDB's default (all cores) when ``None``.
    """

    name = "duckdb"

    def __init__(self, *, threads: int | None = None) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"DuckDB threads must be an integer >= 1 or None; got {threads!r}")
        self.threads = threads

    def __repr__(self) -> str:
        return f"DuckDBEngine(threads={self.threads!r})"

    def run(self, query: str, views: Mapping[str, object], params: Mapping[str, object]) -> pa.Table:
        with self._connect() as connection:
            _register(connection, views)
            return connection.sql(query, params=dict(params)).to_arrow_table()

    def write(
        self,
        query: str,
        views: Mapping[str, object],
        params: Mapping[str, object],
        out_path: str | os.PathLike[str],
    ) -> int:
        spill_dir = Path(out_path).parent / ".duckdb-spill"
        with self._connect(spill_dir=spill_dir) as connection:
            _register(connection, views)
            with atomic_path(out_path) as temporary:
                connection.execute(
                    f"COPY ({query}) TO '{_quote(temporary)}' (FORMAT parquet, COMPRESSION zstd)",
                    dict(params),
                )
                rows = connection.execute("SELECT COUNT(*) FROM read_parquet(?)", [str(temporary)]).fetchone()[0]
        if spill_dir.is_dir() and not any(spill_dir.iterdir()):
            spill_dir.rmdir()
        return int(rows)

    def _connect(self, *, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        # Naive timestamps are UTC everywhere in the toolkit, never the machine's local time.
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
        if spill_dir is not None:
            connection.execute(f"SET temp_directory = '{_quote(spill_dir)}'")
        if self.threads:
            connection.execute(f"SET threads = {int(self.threads)}")
        return connection


def _register(connection: duckdb.DuckDBPyConnection, views: Mapping[str, object]) -> None:
    """Register each view: a Parquet path or list of paths is scanned lazily by DuckDB
    (bounded memory), a polars frame or pyarrow table is read in place."""
    for name, source in views.items():
        if isinstance(source, (str, os.PathLike)):
            source = [source]
        if isinstance(source, (list, tuple)):
            files = [os.fspath(path) for path in source]
            connection.read_parquet(files, union_by_name=True, hive_partitioning=False).create_view(name)
        else:
            connection.register(name, source)


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")

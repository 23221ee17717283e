"""Ad-hoc, read-only SQL over a run folder's Parquet outputs.

Every ``*.parquet`` under the run folder becomes a view named after its file stem
(``decoded_rewards``, ``lift``, ``mental_rewards``, ``ik_training_set``, ...), plus the short
alias ``trajectories`` for ``user_trajectories``. The connection is read-only in two ways:

* only statements DuckDB classifies as SELECT or EXPLAIN are run (``DESCRIBE``,
  ``SUMMARIZE`` and ``WITH ... SELECT`` are SELECTs); anything else is refused before it runs;
* file access is limited to exactly the registered Parquet files (DuckDB's
  ``allowed_paths`` with external access disabled and the configuration locked), so even a
  SELECT cannot read or write any other file.

A run is named by its folder (``runs/2026-11-01``) or, inside the runs folder, by its name:
a date or ``current``, the symbolic link to the promoted run the nightly job maintains
(:func:`resolve_run`). The link is resolved once, when the query starts, so a nightly run
that swaps it meanwhile does not mix two runs in one answer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text

#: Formats of :func:`export_query`: a terminal table, CSV, JSON, or Parquet (to a file only).
OUTPUT_FORMATS = ("table", "csv", "json", "parquet")
VIEW_ALIASES = {"user_trajectories": "trajectories"}
_ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class RunView:
    """One registered view: its name, the file behind it, and its columns with types."""

    name: str
    path: Path
    columns: tuple[tuple[str, str], ...]


def resolve_run(run: str | os.PathLike[str], runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """The run folder ``run`` names, with symbolic links resolved.

    ``run`` is a folder (``runs/2026-11-01``, ``runs/current``) or, when no such folder
    exists, a run name inside ``runs_dir`` (``2026-11-01``, ``current``).
    """
    path = Path(run)
    if path.is_dir():
        return path.resolve()
    named = Path(runs_dir) / path
    if len(path.parts) == 1 and named.is_dir():
        return named.resolve()
    also = f" (nor {named})" if len(path.parts) == 1 else ""
    raise FileNotFoundError(f"run folder {path} does not exist{also}")


def run_views(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """View name -> Parquet file for every output of the run (nested folders included)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run folder {root} does not exist")
    root = root.resolve()
    views: dict[str, Path] = {}
    for path in sorted(root.rglob("*.parquet")):
        if path.name.startswith("."):
            continue  # a temporary file of an atomic write in progress
        name = path.stem.replace("-", "_")
        if not _IDENTIFIER.match(name):
            continue
        if name in views:
            raise ValueError(f"two outputs would both be the view {name!r}: {views[name]} and {path}")
        views[name] = path
        alias = VIEW_ALIASES.get(name)
        if alias and alias not in views:
            views[alias] = path
    if not views:
        raise ValueError(f"run folder {root} holds no Parquet outputs to query")
    return views


def connect_read_only(
    run_dir: str | os.PathLike[str], views: dict[str, Path] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the run's outputs as views, locked read-only."""
    views = run_views(run_dir) if views is None else views
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, path in views.items():
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{_quote(path)}')")
    if "user_segments" not in views:
        # The shipped analysis queries join user_segments; without one, every user is in 'all'.
        connection.execute(
            "CREATE VIEW user_segments AS SELECT CAST(NULL AS VARCHAR) AS user_id, "
            "CAST(NULL AS VARCHAR) AS segment WHERE false"
        )
    files = ", ".join(f"'{_quote(path.resolve())}'" for path in set(views.values()))
    connection.execute(f"SET allowed_paths = [{files}]")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def describe_run(run_dir: str | os.PathLike[str]) -> list[RunView]:
    """The views of a run and their columns, for ``offline-rl sql --list``."""
    views = run_views(run_dir)
    connection = connect_read_only(run_dir, views)
    described = []
    for name, path in views.items():
        rows = connection.execute(f"DESCRIBE {name}").fetchall()
        described.append(RunView(name=name, path=path, columns=tuple((row[0], row[1]) for row in rows)))
    return described


def query_run(run_dir: str | os.PathLike[str], sql: str) -> pa.Table:
    """Run one read-only ``sql`` statement over the run's outputs; return the result."""
    connection = connect_read_only(run_dir)
    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"the SQL does not parse: {error}") from error
    if len(statements) != 1:
        raise ValueError(f"give exactly one SQL statement; got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _ALLOWED_STATEMENTS:
        raise ValueError(
            f"refused a {kind} statement: `offline-rl sql` is read-only and runs SELECT queries only"
        )
    try:
        return connection.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        raise ValueError(f"the query failed: {error}") from error


def export_query(
    run_dir: str | os.PathLike[str],
    sql: str,
    *,
    output_format: str = "table",
    output: str | os.PathLike[str] | None = None,
) -> str | None:
    """Run one read-only ``sql`` statement (:func:`query_run`) and render its result.

    ``output_format`` is one of :data:`OUTPUT_FORMATS`. With ``output`` the result is
    written there atomically and None is returned; without, the text is returned (Parquet
    needs an ``output``). The table format shows up to 50 rows and 20 columns.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format {output_format!r} is not one of {list(OUTPUT_FORMATS)}")
    if output_format == "parquet" and output is None:
        raise ValueError("the parquet format writes a file: give an output path")
    frame = pl.from_arrow(query_run(run_dir, sql))
    if output_format == "parquet":
        atomic_write_parquet(frame, output)
        return None
    if output_format == "table":
        with pl.Config(tbl_rows=50, tbl_cols=20, tbl_width_chars=160, fmt_str_lengths=40):
            text = str(frame) + "\n"
    elif output_format == "csv":
        text = frame.write_csv()
    else:
        text = frame.write_json()
    if output is None:
        return text
    atomic_write_text(output, text)
    return None


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")

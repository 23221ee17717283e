"""Read logged decisions in the canonical schema from files, validated once, at the boundary.

Inputs are Parquet (one file, a glob, or a Hive-partitioned folder such as
``logs/date=2026-11-01/part-0.parquet``) or CSV (``.csv``/``.csv.gz``; list columns written as
JSON arrays such as ``"[0.1, 0.2]"``). Each file's header (its Parquet footer) is checked here:
the required columns of :data:`offline_rl.schema.LOG_TABLE`, their dtypes, one id type across
files, the vocabulary a file declares. The rows are then checked by the rule queries of
:mod:`offline_rl.data.validation` on a SQL engine: Parquet files whose columns are typed are
read there and nowhere else (DuckDB streams them in bounded memory; Spark reads them on its
executors); CSV files and Parquet files holding text (times or lists as strings) are parsed
here first. The first rule broken raises one :class:`~offline_rl.errors.SchemaError` that
names the file, the column, the row (0-based data row within that file) with its
``event_id``, the value, the rule, and what was expected; nothing is written by a load.
"""

from __future__ import annotations

import glob as globbing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from offline_rl.data.engines import (
    SOURCE_INDEX,
    SOURCE_ROW,
    NumberedParquet,
    Queries,
    SqlEngine,
    sql_engine,
)
from offline_rl.data.rule_queries import distinct_query, signals_query
from offline_rl.data.summary import LogSummary
from offline_rl.data.validation import (
    IdTypes,
    accepted_dtype,
    cast_to_canonical,
    check_rows,
    first_context_length,
    missing_columns,
)
from offline_rl.errors import SchemaError
from offline_rl.schema import (
    ACTIONS_TABLE,
    DEFAULT_FEEDBACK_VOCABULARY,
    LOG_TABLE,
    RuleInputs,
    Table,
    vocabulary_from_metadata,
)

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]



def resolve_sources(source: Source) -> list[Path]:
    """Expand a file, a glob, a folder (searched recursively, Hive layout) or a list of them."""
    if isinstance(source, (list, tuple)):
        paths = [path for item in source for path in resolve_sources(item)]
        if not paths:
            raise SchemaError(f"empty input: no log files in {list(map(str, source))}")
        return sorted(set(paths))
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        found = [
            candidate
            for pattern in ("*.parquet", "*.csv", "*.csv.gz")
            for candidate in path.rglob(pattern)
            if not any(part.startswith((".", "_")) for part in candidate.relative_to(path).parts)
        ]
        if not found:
            raise SchemaError(f"empty input: folder {text} holds no .parquet or .csv files")
        return sorted(found)
    if path.is_file():
        return [path]
    if any(character in text for character in "*?["):
        found = [Path(match) for match in globbing.glob(text, recursive=True) if Path(match).is_file()]
        if not found:
            raise SchemaError(f"empty input: no file matches the pattern {text}")
        return sorted(found)
    raise FileNotFoundError(f"log input {text} does not exist (expected a file, a glob or a folder)")


def load_logs(source: Source, *, vocabulary: Sequence[str] | None = None,
              table: Table = LOG_TABLE) -> pl.DataFrame:
    """Load logs in the canonical schema, validated, as one polars DataFrame.

    Parameters
    ----------
    source
        A Parquet or CSV file, a glob, a (Hive-partitioned) folder, or a list of these.
    vocabulary
        The feedback signals allowed. ``None`` takes the vocabulary the Parquet files declare
        in their metadata, else :data:`~offline_rl.schema.DEFAULT_FEEDBACK_VOCABULARY`.
    table
        The table declaration checked: the log schema, or
        :data:`~offline_rl.schema.DECISIONS_TABLE` for decisions to score (no outcome needed).

    Returns
    -------
    polars.DataFrame
        Canonical columns in schema order (``action_probs`` and ``reward`` only when present),
        rows in input order (files sorted by path).

    Raises
    ------
    SchemaError
        The first rule broken, naming file, column, row, value, rule and expectation.
    """
    logs = _log_input(resolve_sources(source), vocabulary, in_memory=True, table=table)
    with sql_engine("duckdb").open({"logs": logs.view}) as queries:
        logs.check(queries)
    return logs.view.select(logs.columns)


def validate_logs(
    source: Source, *, vocabulary: Sequence[str] | None = None, engine: str | SqlEngine = "duckdb"
) -> LogSummary:
    """Check every rule on ``source`` on ``engine`` and summarize it.

    Typed Parquet files are checked where the engine reads them (DuckDB streams them in
    bounded memory, Spark on its executors); only counts and, for a broken rule, its first
    row come back.
    """
    logs = _log_input(resolve_sources(source), vocabulary)
    with sql_engine(engine).open({"logs": logs.view}) as queries:
        rows = logs.check(queries)
        signals = {row["feedback"]: row["events"] for row in queries.run(signals_query(), {}).to_pylist()}
        distinct = queries.run(distinct_query(), {}).to_pylist()[0]
    return LogSummary.of(
        rows=rows, users=distinct["users"], actions=distinct["actions"], signals=signals, files=len(logs.paths)
    )


@dataclass(frozen=True, kw_only=True)
class CheckedLogs:
    """Validated logs as the SQL jobs take them, with their row count and signals."""

    table: list[Path] | pl.DataFrame
    """The Parquet paths (typed files, never read in this process) or the canonical frame."""
    rows: int
    signals: list[str]
    """The feedback signals present, sorted."""


def checked_logs(
    source: Source, *, vocabulary: Sequence[str] | None = None, engine: str | SqlEngine = "duckdb"
) -> CheckedLogs:
    """Validate ``source`` on ``engine`` and hand it over as the SQL jobs read it."""
    logs = _log_input(resolve_sources(source), vocabulary)
    with sql_engine(engine).open({"logs": logs.view}) as queries:
        rows = logs.check(queries)
        signals = sorted(row["feedback"] for row in queries.run(signals_query(), {}).to_pylist())
    table = list(logs.paths) if isinstance(logs.view, NumberedParquet) else logs.view.select(logs.columns)
    return CheckedLogs(table=table, rows=rows, signals=signals)


@dataclass(frozen=True, kw_only=True)
class _LogInput:
    """Logs whose headers passed, ready for the rule queries."""

    paths: list[Path]
    view: NumberedParquet | pl.DataFrame
    columns: list[str]
    inputs: RuleInputs
    table: Table

    def check(self, queries: Queries) -> int:
        return check_rows(
            queries, self.table, sources=[str(path) for path in self.paths], columns=self.columns,
            inputs=self.inputs,
        )


@dataclass(frozen=True)
class _Header:
    path: Path
    names: list[str]
    dtypes: dict[str, pl.DataType]
    vocabulary: tuple[str, ...] | None
    rows: int | None
    typed: bool
    """Every canonical column is stored typed: the engine reads the file as is."""


def _log_input(
    paths: list[Path], vocabulary: Sequence[str] | None, *, in_memory: bool = False, table: Table = LOG_TABLE
) -> _LogInput:
    """Check every file's header; keep typed Parquet files as paths for the engine (unless
    ``in_memory``), else read and cast every file here into one frame."""
    headers = [_read_header(path, table) for path in paths]
    ids = IdTypes()
    for header in headers:
        ids.check(header.dtypes, str(header.path))
    declared: list[str] = []
    for header in headers:
        declared.extend(name for name in (header.vocabulary or ()) if name not in declared)
    if vocabulary is None:
        vocabulary = tuple(declared) or DEFAULT_FEEDBACK_VOCABULARY
    columns = [
        column.name
        for column in table.columns
        if column.required or all(column.name in header.names for header in headers)
    ]
    if not in_memory and all(header.typed for header in headers):
        inputs = RuleInputs(context_length=_first_parquet_context_length(headers), vocabulary=tuple(vocabulary))
        return _LogInput(
            paths=paths, view=NumberedParquet([str(path) for path in paths]), columns=columns, inputs=inputs,
            table=table,
        )
    frames = [
        cast_to_canonical(_read_table(path, table), table, str(path), index=index).select(
            *columns, SOURCE_INDEX, SOURCE_ROW
        )
        for index, path in enumerate(paths)
    ]
    frame = pl.concat(frames, how="vertical", rechunk=False)
    inputs = RuleInputs(context_length=first_context_length(frame), vocabulary=tuple(vocabulary))
    return _LogInput(paths=paths, view=frame, columns=columns, inputs=inputs, table=table)


def _first_parquet_context_length(headers: list[_Header]) -> int:
    """The context length of the first row of the first file that has rows."""
    for header in headers:
        if header.rows:
            batch = next(pq.ParquetFile(header.path).iter_batches(batch_size=1, columns=["context"]))
            first = batch.column(0)[0].as_py()
            return len(first) if first is not None else 0
    return 0


def load_actions(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Load the optional ``actions`` table (``action_id`` int64 unique, ``features`` list<float>)."""
    path = Path(path)
    frame = _read_table(path, ACTIONS_TABLE)
    for name in ("action_id", "features"):
        if name not in frame.columns:
            raise SchemaError(
                f"{path}: missing column {name!r}; the actions table needs action_id (int64) "
                f"and features (list<float>); found columns {frame.columns}"
            )
    frame = cast_to_canonical(frame, ACTIONS_TABLE, str(path)).select("action_id", "features")
    duplicated = frame.filter(pl.col("action_id").is_duplicated())
    if duplicated.height:
        raise SchemaError(
            f"{path}: column 'action_id', value {duplicated['action_id'][0]} appears "
            f"{duplicated.height} times; rule: action_id is unique"
        )
    return frame


# --------------------------------------------------------------------------------------------
# reading files


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def _read_parquet_error(path: Path, error: Exception) -> SchemaError:
    return SchemaError(f"{path}: not a readable Parquet file ({error})")


def _read_table(path: Path, table: Table) -> pl.DataFrame:
    """One whole file as a polars frame, with CSV text columns read as strings."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            return pl.from_arrow(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as error:
            raise _read_parquet_error(path, error) from error
    if name.endswith((".csv", ".csv.gz")):
        try:
            return pl.read_csv(path, infer_schema_length=10_000, schema_overrides=table.csv_overrides())
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
            raise SchemaError(f"{path}: not a readable CSV file ({error})") from error
    raise SchemaError(f"{path}: unsupported file type; expected .parquet, .csv or .csv.gz")


def _read_header(path: Path, table: Table = LOG_TABLE) -> _Header:
    """Column names, dtypes, declared vocabulary and row count of one log file, checked: every
    required column present with an accepted dtype. A Parquet file's rows are not read."""
    if _is_parquet(path):
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise _read_parquet_error(path, error) from error
        schema = parquet.schema_arrow
        names, rows = list(schema.names), parquet.metadata.num_rows
        dtypes = dict(pl.from_arrow(schema.empty_table()).schema)
        vocabulary = vocabulary_from_metadata(schema.metadata)
    else:
        frame = _read_table(path, table)
        names, rows, dtypes, vocabulary = frame.columns, frame.height, dict(frame.schema), None
    missing_columns(names, table, str(path))
    typed = _is_parquet(path)
    canonical: dict[str, pl.DataType] = {}
    for column in table.columns:
        if column.name in dtypes:
            stored_typed = accepted_dtype(column, dtypes[column.name], str(path))
            typed = typed and stored_typed
            canonical[column.name] = column.type.canonical(dtypes[column.name]) if stored_typed else pl.String
    return _Header(path=path, names=names, dtypes=canonical, vocabulary=vocabulary, rows=rows, typed=typed)

"""Read logged decisions in the canonical schema from files, validated once, at the boundary.

Inputs are Parquet (one file, a glob, or a Hive-partitioned folder such as
``logs/date=2026-11-01/part-0.parquet``) or CSV (``.csv``/``.csv.gz``; list columns written as
JSON arrays such as ``"[0.1, 0.2]"``). Files are read batch by batch, cast to the canonical
types of :data:`offline_rl.schema.LOG_TABLE` and checked by
:class:`offline_rl.data.validation.TableValidator` (the rules are listed there). The first
rule broken raises one :class:`~offline_rl.errors.SchemaError` that names the file, the
column, the row (0-based data row within that file) with its ``event_id``, the value, the
rule, and what was expected; nothing is written by a load.
"""

from __future__ import annotations

import glob as globbing
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from offline_rl.data.summary import LogCounter, LogSummary
from offline_rl.data.validation import (
    ROW,
    SOURCE,
    TableValidator,
    cast_to_canonical,
    missing_columns,
)
from offline_rl.errors import SchemaError
from offline_rl.schema import (
    ACTIONS_TABLE,
    DEFAULT_FEEDBACK_VOCABULARY,
    LOG_TABLE,
    Table,
    vocabulary_from_metadata,
)

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

_BATCH_ROWS = 262_144


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
    columns, batches = _validated_batches(resolve_sources(source), vocabulary, table)
    logs = pl.concat(list(batches), how="vertical", rechunk=False)
    return logs.select(columns)


def validate_logs(source: Source, *, vocabulary: Sequence[str] | None = None) -> LogSummary:
    """Check every rule on ``source`` in bounded memory (batch by batch) and summarize it.

    Only the ``event_id`` column of all rows is held at once (for the uniqueness rule), so
    tens of millions of events validate in a few hundred MiB.
    """
    paths = resolve_sources(source)
    _, batches = _validated_batches(paths, vocabulary)
    counter = LogCounter()
    for batch in batches:
        counter.add(batch)
    return counter.summary(files=len(paths))


def _validated_batches(
    paths: list[Path], vocabulary: Sequence[str] | None, table: Table = LOG_TABLE
) -> tuple[list[str], Iterator[pl.DataFrame]]:
    """The canonical columns every file has, and the checked batches of all files in order.

    The iterator raises at its end for the rules that need every row (non-empty input,
    unique ``event_id``).
    """
    headers = [_read_header(path, table) for path in paths]
    declared: list[str] = []
    for _, file_vocabulary in headers:
        declared.extend(name for name in (file_vocabulary or ()) if name not in declared)
    if vocabulary is None:
        vocabulary = tuple(declared) or DEFAULT_FEEDBACK_VOCABULARY
    columns = [
        column.name
        for column in table.columns
        if column.required or all(column.name in names for names, _ in headers)
    ]
    validator = TableValidator(table, vocabulary=vocabulary)

    def batches() -> Iterator[pl.DataFrame]:
        for path in paths:
            for batch in _read_batches(path, table):
                yield validator.check(batch.select([*columns, SOURCE, ROW]), str(path)).select(columns)
        validator.finish(list(map(str, paths)))

    return columns, batches()


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


def _read_header(path: Path, table: Table = LOG_TABLE) -> tuple[list[str], tuple[str, ...] | None]:
    """Column names and declared vocabulary of one log file, without reading its rows."""
    if _is_parquet(path):
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise _read_parquet_error(path, error) from error
        names, vocabulary = list(schema.names), vocabulary_from_metadata(schema.metadata)
    else:
        names, vocabulary = _read_table(path, table).columns, None
    missing_columns(names, table, str(path))
    return names, vocabulary


def _read_batches(path: Path, table: Table) -> Iterator[pl.DataFrame]:
    """Batches of one file cast to canonical types, each with its file name and 0-based rows."""
    if _is_parquet(path):
        # pre_buffer=False: with it, pyarrow keeps every read row group's raw bytes until the
        # file closes, so memory grows with the file (1.2 GiB held at 10M events).
        parquet = pq.ParquetFile(path, pre_buffer=False)
        names = {column.name for column in table.columns}
        wanted = [name for name in parquet.schema_arrow.names if name in names]
        offset = 0
        for record_batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            frame = pl.from_arrow(pa.Table.from_batches([record_batch]))
            yield cast_to_canonical(frame, table, str(path), offset)
            offset += frame.height
    else:
        yield cast_to_canonical(_read_table(path, table), table, str(path))

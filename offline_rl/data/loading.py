"""Read logged decisions in the canonical schema and validate them once, at the boundary.

Inputs are Parquet (one file, a glob, or a Hive-partitioned folder such as
``logs/date=2026-11-01/part-0.parquet``) or CSV (``.csv``/``.csv.gz``; list columns written as
JSON arrays such as ``"[0.1, 0.2]"``). Each file is checked for the columns and dtypes of
:data:`offline_rl.schema.LOG_SCHEMA`, then every row against the rules below. The first rule
broken raises one :class:`~offline_rl.errors.SchemaError` that names the file, the column,
the row (0-based data row within that file) with its ``event_id``, the value, the rule, and
what was expected; nothing is written by a load.

Rules, in the order they are checked:

1. the input holds at least one row;
2. every required column is present with an accepted dtype;
3. required columns hold no nulls;
4. ``ts`` parses as a timestamp (strings in ISO 8601; naive times are taken as UTC);
5. ``propensity`` lies in (0, 1] (NaN is rejected);
6. ``candidate_actions`` is non-empty and holds no duplicate action;
7. ``action`` is one of the row's ``candidate_actions``;
8. ``action_probs``, when present, has one probability in [0, 1] per candidate, sums to 1
   within :data:`~offline_rl.schema.PROBABILITY_SUM_TOLERANCE`, and gives the logged action the
   logged ``propensity`` (same tolerance);
9. every row's ``context`` has the same length;
10. ``feedback`` belongs to the declared vocabulary;
11. ``event_id`` is unique across all files.
"""

from __future__ import annotations

import glob as globbing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from offline_rl.errors import SchemaError
from offline_rl.schema import (
    DEFAULT_FEEDBACK_VOCABULARY,
    HIDDEN_REWARD_COLUMN,
    LOG_SCHEMA,
    PROBABILITY_SUM_TOLERANCE,
    REQUIRED_COLUMNS,
    vocabulary_from_metadata,
)

_FILE = "__source_file"
_SIGNALS_SHOWN = 8
_ROW = "__source_row"

#: Dtype families each column accepts, and the canonical dtype it is cast to.
_INTEGER = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_FLOAT = (pl.Float32, pl.Float64)
_STRING = (pl.String, pl.Categorical, pl.Enum)

_LIST_COLUMNS = {
    "context": pl.List(pl.Float32),
    "candidate_actions": pl.List(pl.Int64),
    "action_probs": pl.List(pl.Float64),
}
_EXPECTED_TYPE = {
    "event_id": "int64 or string",
    "ts": "timestamp (or an ISO 8601 string)",
    "user_id": "int64 or string",
    "context": "list<float>",
    "candidate_actions": "list<int64>",
    "action": "int64",
    "propensity": "double",
    "action_probs": "list<double>",
    "feedback": "string",
    HIDDEN_REWARD_COLUMN: "double",
}


@dataclass(frozen=True, kw_only=True)
class LogSummary:
    """Counts of validated logs (:func:`validate_logs`, :func:`summarize_logs`); ``line()`` is
    what ``offline-rl validate`` prints."""

    rows: int
    users: int
    actions: int
    signals: dict[str, int]
    files: int

    def line(self) -> str:
        shown = list(self.signals.items())[:_SIGNALS_SHOWN]
        signals = ", ".join(f"{name} {count}" for name, count in shown)
        if len(self.signals) > _SIGNALS_SHOWN:
            signals += f", ... {len(self.signals) - _SIGNALS_SHOWN} more"
        return (
            f"valid: {self.rows} rows, {self.users} users, {self.actions} actions, "
            f"{len(self.signals)} signals ({signals}) in {self.files} file(s)"
        )


def resolve_sources(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
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


def load_logs(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    vocabulary: Sequence[str] | None = None,
    validate: bool = True,
) -> pl.DataFrame:
    """Load logs in the canonical schema, validated, as one polars DataFrame.

    Parameters
    ----------
    source
        A Parquet or CSV file, a glob, a (Hive-partitioned) folder, or a list of these.
    vocabulary
        The feedback signals allowed. ``None`` takes the vocabulary the Parquet files declare
        in their metadata, else :data:`~offline_rl.schema.DEFAULT_FEEDBACK_VOCABULARY`.
    validate
        Check the row rules (module docstring). Column and dtype checks always run.

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
    batches: list[pl.DataFrame] = []
    scan = _scan(source, vocabulary=vocabulary, validate=validate, keep=batches.append, summarize=False)
    logs = pl.concat(batches, how="vertical", rechunk=False) if len(batches) > 1 else batches[0]
    return logs.select(scan.columns)


def validate_logs(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    vocabulary: Sequence[str] | None = None,
) -> LogSummary:
    """Check every rule on ``source`` in bounded memory (batch by batch) and summarize it.

    Only the ``event_id`` column of all rows is held at once (for the uniqueness rule), so
    tens of millions of events validate in a few hundred MiB.
    """
    return _scan(source, vocabulary=vocabulary, validate=True, keep=None, summarize=True).summary()


@dataclass
class _Scan:
    paths: list[Path]
    columns: list[str]
    rows: int = 0
    users: list[pl.Series] | None = None
    actions: list[pl.Series] | None = None
    signals: dict[str, int] | None = None

    def summary(self) -> LogSummary:
        users = pl.concat(self.users).n_unique() if self.users else 0
        actions = pl.concat(self.actions).n_unique() if self.actions else 0
        ordered = dict(sorted((self.signals or {}).items(), key=lambda item: (-item[1], item[0])))
        return LogSummary(rows=self.rows, users=users, actions=actions, signals=ordered, files=len(self.paths))


_BATCH_ROWS = 262_144


def _scan(source, *, vocabulary, validate: bool, keep, summarize: bool) -> _Scan:
    """Read every batch once: type it, check it (``validate``), count it (``summarize``),
    and hand it to ``keep``."""
    paths = resolve_sources(source)
    schemas = [_read_schema(path) for path in paths]
    declared: list[str] = []
    for _, file_vocabulary in schemas:
        declared.extend(name for name in (file_vocabulary or ()) if name not in declared)
    allowed = tuple(vocabulary) if vocabulary is not None else tuple(declared) or DEFAULT_FEEDBACK_VOCABULARY
    optional = [name for name in ("action_probs", HIDDEN_REWARD_COLUMN) if all(name in names for names, _ in schemas)]
    columns = [field.name for field in LOG_SCHEMA if field.name in (*REQUIRED_COLUMNS, *optional)]
    scan = _Scan(paths=paths, columns=columns, users=[], actions=[], signals={})
    ids: list[pl.DataFrame] = []
    id_types: dict[str, tuple[pl.DataType, Path]] = {}
    context_length: list[int] = []
    for path in paths:
        for batch in _read_batches(path):
            batch = batch.select([*columns, _FILE, _ROW])
            for name in ("event_id", "user_id"):
                dtype, first_path = id_types.setdefault(name, (batch.schema[name], path))
                if batch.schema[name] != dtype:
                    raise SchemaError(
                        f"{path}: column {name!r} has dtype {batch.schema[name]} but {first_path} has "
                        f"{dtype}; expected one id type across all files"
                    )
            if validate:
                batch = _check_rows(batch, allowed, context_length)
                ids.append(batch.select("event_id", _FILE, _ROW))
            scan.rows += batch.height
            if summarize:
                scan.users.append(batch["user_id"].unique())
                scan.actions.append(batch.select(pl.col("candidate_actions").explode().unique())["candidate_actions"])
                for name, count in batch.group_by("feedback").len().iter_rows():
                    scan.signals[name] = scan.signals.get(name, 0) + count
            if keep is not None:
                keep(batch.select(columns))
    if scan.rows == 0:
        raise SchemaError(f"empty input: {', '.join(map(str, paths))} hold no rows")
    if validate:
        everything = pl.concat(ids, how="vertical")
        _violation(
            everything,
            ~pl.col("event_id").is_first_distinct(),
            "event_id",
            "'event_id is unique'",
            "each logged decision to appear once; this event_id was already seen earlier",
        )
    return scan


def load_actions(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Load the optional ``actions`` table (``action_id`` int64 unique, ``features`` list<float>)."""
    frame, _ = _read_table(Path(path))
    for name in ("action_id", "features"):
        if name not in frame.columns:
            raise SchemaError(
                f"{path}: missing column {name!r}; the actions table needs action_id (int64) "
                f"and features (list<float>); found columns {frame.columns}"
            )
    if not isinstance(frame.schema["action_id"], _INTEGER):
        raise SchemaError(f"{path}: column 'action_id' has dtype {frame.schema['action_id']}; expected int64")
    frame = frame.select(
        pl.col("action_id").cast(pl.Int64),
        _cast_list(frame, "features", pl.List(pl.Float32), path),
    )
    duplicated = frame.filter(pl.col("action_id").is_duplicated())
    if duplicated.height:
        raise SchemaError(
            f"{path}: column 'action_id', value {duplicated['action_id'][0]} appears "
            f"{duplicated.height} times; rule: action_id is unique"
        )
    return frame


def summarize_logs(logs: pl.DataFrame, *, files: int = 1) -> LogSummary:
    """Counts that ``offline-rl validate`` prints."""
    signals = logs.group_by("feedback").len().sort(["len", "feedback"], descending=[True, False])
    return LogSummary(
        rows=logs.height,
        users=logs["user_id"].n_unique(),
        actions=logs.select(pl.col("candidate_actions").explode().n_unique()).item(),
        signals=dict(zip(signals["feedback"].to_list(), signals["len"].to_list(), strict=True)),
        files=files,
    )


# --------------------------------------------------------------------------------------------
# reading and typing


def _read_table(path: Path) -> tuple[pl.DataFrame, tuple[str, ...] | None]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise SchemaError(f"{path}: not a readable Parquet file ({error})") from error
        return pl.from_arrow(table), vocabulary_from_metadata(table.schema.metadata)
    if name.endswith((".csv", ".csv.gz")):
        try:
            frame = pl.read_csv(path, infer_schema_length=10_000, schema_overrides=_CSV_OVERRIDES)
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
            raise SchemaError(f"{path}: not a readable CSV file ({error})") from error
        return frame, None
    raise SchemaError(f"{path}: unsupported file type; expected .parquet, .csv or .csv.gz")


_CSV_OVERRIDES = {
    "context": pl.String,
    "candidate_actions": pl.String,
    "action_probs": pl.String,
    "feedback": pl.String,
    "ts": pl.String,
}


def _read_schema(path: Path) -> tuple[list[str], tuple[str, ...] | None]:
    """Column names and declared vocabulary of one file, without reading its rows."""
    if path.name.lower().endswith(".parquet"):
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise SchemaError(f"{path}: not a readable Parquet file ({error})") from error
        names, vocabulary = list(schema.names), vocabulary_from_metadata(schema.metadata)
    else:
        frame, vocabulary = _read_table(path)
        names = frame.columns
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise SchemaError(
            f"{path}: missing column {missing[0]!r} ({_EXPECTED_TYPE[missing[0]]}); "
            f"the canonical log schema requires {list(REQUIRED_COLUMNS)}; found {names}"
        )
    return names, vocabulary


def _read_batches(path: Path):
    """Typed polars batches of one file, each with its file name and 0-based row numbers."""
    if path.name.lower().endswith(".parquet"):
        # pre_buffer=False: with it, pyarrow keeps every read row group's raw bytes until the
        # file closes, so memory grows with the file (1.2 GiB held at 10M events).
        parquet = pq.ParquetFile(path, pre_buffer=False)
        wanted = [name for name in parquet.schema_arrow.names if name in _EXPECTED_TYPE]
        offset = 0
        for record_batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            frame = pl.from_arrow(pa.Table.from_batches([record_batch]))
            yield _typed(frame, path, offset)
            offset += frame.height
    else:
        frame, _ = _read_table(path)
        yield _typed(frame, path, 0)


def _typed(frame: pl.DataFrame, path: Path, offset: int) -> pl.DataFrame:
    # The file name as a categorical: one code per row instead of one string per row.
    frame = frame.with_row_index(_ROW, offset=offset).with_columns(pl.lit(str(path), dtype=pl.Categorical).alias(_FILE))
    casts = []
    for name in (*REQUIRED_COLUMNS, "action_probs", HIDDEN_REWARD_COLUMN):
        if name in frame.columns:
            casts.append(_cast_column(frame, name, path))
    return frame.with_columns(casts)


def _wrong_dtype(path: Path, name: str, dtype: pl.DataType) -> SchemaError:
    return SchemaError(f"{path}: column {name!r} has dtype {dtype}; expected {_EXPECTED_TYPE[name]}")


def _cast_column(frame: pl.DataFrame, name: str, path: Path) -> pl.Expr:
    dtype = frame.schema[name]
    column = pl.col(name)
    if name in ("event_id", "user_id"):
        if isinstance(dtype, _INTEGER):
            return column.cast(pl.Int64)
        if isinstance(dtype, _STRING):
            return column.cast(pl.String)
        raise _wrong_dtype(path, name, dtype)
    if name == "ts":
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return column.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
            return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        if isinstance(dtype, pl.Date):
            return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        if isinstance(dtype, _STRING):
            return column  # parsed in _check_rows so that a bad value names its row
        raise _wrong_dtype(path, name, dtype)
    if name in _LIST_COLUMNS:
        return _cast_list(frame, name, _LIST_COLUMNS[name], path)
    if name == "action":
        if isinstance(dtype, _INTEGER):
            return column.cast(pl.Int64)
        raise _wrong_dtype(path, name, dtype)
    if name in ("propensity", HIDDEN_REWARD_COLUMN):
        if isinstance(dtype, (*_FLOAT, *_INTEGER)):
            return column.cast(pl.Float64)
        raise _wrong_dtype(path, name, dtype)
    if name == "feedback":
        if isinstance(dtype, _STRING):
            return column.cast(pl.String)
        raise _wrong_dtype(path, name, dtype)
    raise AssertionError(name)


def _cast_list(frame: pl.DataFrame, name: str, target: pl.List, path: Path) -> pl.Expr:
    dtype = frame.schema[name]
    inner_ok = _INTEGER if target.inner == pl.Int64 else (*_FLOAT, *_INTEGER)
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = dtype.inner
        if isinstance(inner, inner_ok) or inner == pl.Null:
            return pl.col(name).cast(target)
        raise _wrong_dtype(path, name, dtype) if name in _EXPECTED_TYPE else SchemaError(
            f"{path}: column {name!r} has dtype {dtype}; expected {target}"
        )
    if isinstance(dtype, _STRING):
        # CSV: a JSON array per cell. Decode leniently to floats, then check each row.
        decoded = frame.select(
            pl.col(name).str.json_decode(pl.List(pl.Float64)).alias("decoded"), pl.col(name).alias("raw"), _ROW
        ) if _json_decodes(frame, name) else None
        if decoded is None:
            bad_row = _first_undecodable_row(frame, name)
            raise SchemaError(
                f"{path}: column {name!r}, row {bad_row[0]}: value {bad_row[1]!r} is not a JSON "
                f"array; expected {target} written as e.g. \"[1, 2, 3]\""
            )
        if target.inner == pl.Int64:
            fractional = decoded.filter(
                pl.col("decoded").list.eval(pl.element() != pl.element().round(0)).list.any()
            )
            if fractional.height:
                row = fractional.row(0, named=True)
                raise SchemaError(
                    f"{path}: column {name!r}, row {row[_ROW]}: value {row['raw']!r} holds a "
                    f"non-integer; expected {target}"
                )
        return pl.col(name).str.json_decode(pl.List(pl.Float64)).cast(target)
    raise SchemaError(f"{path}: column {name!r} has dtype {dtype}; expected {_EXPECTED_TYPE.get(name, target)}")


def _json_decodes(frame: pl.DataFrame, name: str) -> bool:
    try:
        frame.select(pl.col(name).str.json_decode(pl.List(pl.Float64)))
    except pl.exceptions.PolarsError:
        return False
    return True


def _first_undecodable_row(frame: pl.DataFrame, name: str) -> tuple[int, str]:
    for index, value in enumerate(frame[name].to_list()):
        if value is None:
            continue
        try:
            pl.Series([value]).str.json_decode(pl.List(pl.Float64))
        except pl.exceptions.PolarsError:
            return index, value
    return 0, ""


# --------------------------------------------------------------------------------------------
# row rules


@dataclass(frozen=True)
class _Rule:
    """One row rule: the rows it flags, and how to report the first of them."""

    column: str
    mask: pl.Expr
    rule: str
    expected: str
    value: pl.Expr | None = None


def _violation(logs: pl.DataFrame, mask: pl.Expr, column: str, rule: str, expected: str, value: pl.Expr | None = None) -> None:
    _report_first_failure(logs, [_Rule(column, mask, rule, expected, value)])


def _report_first_failure(logs: pl.DataFrame, rules: list[_Rule]) -> None:
    """Count every rule's violations in one pass; raise for the first rule that has any."""
    counts = logs.lazy().select(
        [rule.mask.fill_null(True).sum().alias(str(index)) for index, rule in enumerate(rules)]
    ).collect().row(0)
    for rule, count in zip(rules, counts, strict=True):
        if not count:
            continue
        value = rule.value if rule.value is not None else pl.col(rule.column)
        first = (
            logs.lazy()
            .filter(rule.mask.fill_null(True))
            .select(_FILE, _ROW, "event_id", value.alias("__value"))
            .head(1)
            .collect()
            .row(0, named=True)
        )
        more = f" ({count} rows break this rule)" if count > 1 else ""
        raise SchemaError(
            f"{first[_FILE]}: column {rule.column!r}, row {first[_ROW]} (event_id={first['event_id']!r}): "
            f"value {_show(first['__value'])} breaks the rule {rule.rule}; expected {rule.expected}{more}"
        )


def _show(value) -> str:
    if isinstance(value, list) and len(value) > 8:
        return repr(value[:8])[:-1] + ", ...]"
    return repr(value)


def _check_rows(logs: pl.DataFrame, vocabulary: Sequence[str], context_length: list[int]) -> pl.DataFrame:
    """Check rules 3-10 on one batch in one pass; return it with ``ts`` parsed.

    ``context_length`` carries the first row's context length from batch to batch.
    """
    nulls = [
        _Rule(name, pl.col(name).is_null(), "'no nulls in required columns'", f"a {_EXPECTED_TYPE[name]}")
        for name in REQUIRED_COLUMNS
    ]
    _report_first_failure(logs, nulls)
    if logs.schema["ts"] == pl.String:
        parsed = pl.col("ts").str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        _violation(
            logs, parsed.is_null(), "ts", "'ts parses as a timestamp'", "an ISO 8601 time such as 2026-11-01T08:30:00Z"
        )
        logs = logs.with_columns(parsed)
    if not context_length:
        context_length.append(logs["context"].list.len()[0])

    propensity = pl.col("propensity")
    candidates = pl.col("candidate_actions")
    rules = [
        _Rule(
            "propensity",
            propensity.is_nan() | (propensity <= 0) | (propensity > 1),
            "'propensity in (0, 1]'",
            "the logging policy's probability of the logged action, in (0, 1]",
        ),
        _Rule(
            "candidate_actions",
            (candidates.list.len() == 0) | (candidates.list.n_unique() != candidates.list.len()),
            "'candidate_actions is a non-empty set'",
            "at least one action and no action listed twice",
        ),
        _Rule(
            "action",
            ~candidates.list.contains(pl.col("action")),
            "'action in candidate_actions'",
            "the logged action to be one of the row's candidate_actions",
            value=pl.concat_str(
                pl.col("action").cast(pl.String), pl.lit(" not in "), candidates.cast(pl.List(pl.String)).list.join(", ")
            ),
        ),
    ]
    _report_first_failure(logs, rules)
    if "action_probs" in logs.columns:
        probs = pl.col("action_probs")
        chosen = _probability_of_logged_action(logs)
        with_chosen = logs.with_columns(chosen.alias("__chosen"))
        _report_first_failure(
            with_chosen,
            [
                _Rule(
                    "action_probs",
                    probs.is_not_null() & (probs.list.len() != candidates.list.len()),
                    "'one probability per candidate action'",
                    "action_probs as long as candidate_actions",
                ),
                _Rule(
                    "action_probs",
                    probs.is_not_null()
                    & ((probs.list.min() < 0) | (probs.list.max() > 1) | probs.list.eval(pl.element().is_nan()).list.any()),
                    "'each probability in [0, 1]'",
                    "probabilities in [0, 1]",
                ),
                _Rule(
                    "action_probs",
                    probs.is_not_null() & ((probs.list.sum() - 1).abs() > PROBABILITY_SUM_TOLERANCE),
                    f"'action_probs sums to 1 (tolerance {PROBABILITY_SUM_TOLERANCE:g})'",
                    "a probability distribution over candidate_actions",
                    value=probs.list.sum(),
                ),
                _Rule(
                    "propensity",
                    probs.is_not_null() & ((pl.col("__chosen") - propensity).abs() > PROBABILITY_SUM_TOLERANCE),
                    "'propensity equals action_probs at the logged action'",
                    "the same probability in propensity and action_probs",
                    value=pl.concat_str(
                        propensity.cast(pl.String), pl.lit(" vs action_probs "), pl.col("__chosen").cast(pl.String)
                    ),
                ),
            ],
        )
    allowed = list(vocabulary)
    _report_first_failure(
        logs,
        [
            _Rule(
                "context",
                pl.col("context").list.len() != context_length[0],
                "'every context has the same length'",
                f"{context_length[0]} features per row, as the first row has",
            ),
            _Rule(
                "feedback",
                ~pl.col("feedback").is_in(allowed),
                "'feedback in the declared vocabulary'",
                f"one of {allowed[:20]}{' ...' if len(allowed) > 20 else ''} (declare others with --vocabulary)",
            ),
        ],
    )
    return logs


def _probability_of_logged_action(logs: pl.DataFrame) -> pl.Series:
    """``action_probs[index of action in candidate_actions]`` per row (null where absent).

    Rows reaching this point hold the action exactly once among their candidates, so the
    flattened comparison selects one probability per row; rows whose ``action_probs``
    length differs from the candidate set's are left null (their own rule reports them).
    """
    candidates = logs["candidate_actions"]
    probs = logs["action_probs"]
    lengths = candidates.list.len().to_numpy()
    usable = (probs.list.len().fill_null(-1).to_numpy() == lengths)
    result = np.full(logs.height, np.nan)
    if usable.any():
        kept_candidates = candidates.filter(pl.Series(usable))
        kept_probs = probs.filter(pl.Series(usable))
        flat_candidates = kept_candidates.explode().to_numpy()
        flat_probs = kept_probs.explode().to_numpy()
        repeated_actions = np.repeat(logs["action"].to_numpy()[usable], lengths[usable])
        match = flat_candidates == repeated_actions
        rows = np.repeat(np.arange(usable.sum()), lengths[usable])[match]
        picked = np.full(usable.sum(), np.nan)
        picked[rows] = flat_probs[match]
        result[usable] = picked
    return pl.Series("__chosen", result).fill_nan(None)

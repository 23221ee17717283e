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
    """What :func:`summarize_logs` reports: the one line ``offline-rl validate`` prints."""

    rows: int
    users: int
    actions: int
    signals: dict[str, int]
    files: int

    def line(self) -> str:
        signals = ", ".join(f"{name} {count}" for name, count in self.signals.items())
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
    paths = resolve_sources(source)
    frames: list[pl.DataFrame] = []
    declared: list[str] = []
    for path in paths:
        frame, file_vocabulary = _read_one(path)
        if file_vocabulary:
            declared.extend(name for name in file_vocabulary if name not in declared)
        frames.append(frame)
    optional = [
        name
        for name in ("action_probs", HIDDEN_REWARD_COLUMN)
        if all(name in frame.columns for frame in frames)
    ]
    columns = [field.name for field in LOG_SCHEMA if field.name in (*REQUIRED_COLUMNS, *optional)]
    frames = [frame.select([*columns, _FILE, _ROW]) for frame in frames]
    _check_same_id_types(frames, paths)
    logs = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    if logs.height == 0:
        raise SchemaError(f"empty input: {', '.join(map(str, paths))} hold no rows")
    if validate:
        allowed = tuple(vocabulary) if vocabulary is not None else tuple(declared) or DEFAULT_FEEDBACK_VOCABULARY
        _check_rows(logs, allowed)
    return logs.select(columns)


def load_actions(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Load the optional ``actions`` table (``action_id`` int64 unique, ``features`` list<float>)."""
    frame, _ = _read_table(Path(path))
    for name, expected in (("action_id", _INTEGER), ("features", None)):
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


def _read_one(path: Path) -> tuple[pl.DataFrame, tuple[str, ...] | None]:
    frame, vocabulary = _read_table(path)
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"{path}: missing column {missing[0]!r} ({_EXPECTED_TYPE[missing[0]]}); "
            f"the canonical log schema requires {list(REQUIRED_COLUMNS)}; found {frame.columns}"
        )
    frame = frame.with_row_index(_ROW).with_columns(pl.lit(str(path)).alias(_FILE))
    casts = []
    for name in (*REQUIRED_COLUMNS, "action_probs", HIDDEN_REWARD_COLUMN):
        if name in frame.columns:
            casts.append(_cast_column(frame, name, path))
    return frame.with_columns(casts), vocabulary


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
                (pl.col("decoded").list.eval(pl.element() != pl.element().round(0)).list.any())
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


def _check_same_id_types(frames: list[pl.DataFrame], paths: list[Path]) -> None:
    for name in ("event_id", "user_id"):
        kinds = {frame.schema[name] for frame in frames}
        if len(kinds) > 1:
            first = frames[0].schema[name]
            for frame, path in zip(frames, paths, strict=True):
                if frame.schema[name] != first:
                    raise SchemaError(
                        f"{path}: column {name!r} has dtype {frame.schema[name]} but "
                        f"{paths[0]} has {first}; expected one id type across all files"
                    )


# --------------------------------------------------------------------------------------------
# row rules


def _violation(logs: pl.DataFrame, mask: pl.Expr, column: str, rule: str, expected: str, value: pl.Expr | None = None) -> None:
    bad = logs.lazy().filter(mask.fill_null(True)).select(
        _FILE, _ROW, "event_id", (value if value is not None else pl.col(column)).alias("__value")
    )
    count_frame = bad.select(pl.len()).collect()
    count = count_frame.item()
    if count == 0:
        return
    first = bad.head(1).collect().row(0, named=True)
    more = f" ({count} rows break this rule)" if count > 1 else ""
    raise SchemaError(
        f"{first[_FILE]}: column {column!r}, row {first[_ROW]} (event_id={first['event_id']!r}): "
        f"value {_show(first['__value'])} breaks the rule {rule}; expected {expected}{more}"
    )


def _show(value) -> str:
    if isinstance(value, list) and len(value) > 8:
        return repr(value[:8])[:-1] + ", ...]"
    return repr(value)


def _check_rows(logs: pl.DataFrame, vocabulary: Sequence[str]) -> None:
    for name in REQUIRED_COLUMNS:
        _violation(logs, pl.col(name).is_null(), name, "'no nulls in required columns'", f"a {_EXPECTED_TYPE[name]}")

    if logs.schema["ts"] == pl.String:
        parsed = pl.col("ts").str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        _violation(
            logs, parsed.is_null(), "ts", "'ts parses as a timestamp'", "an ISO 8601 time such as 2026-11-01T08:30:00Z"
        )
        logs.replace_column(logs.get_column_index("ts"), logs.select(parsed)["ts"])

    propensity = pl.col("propensity")
    _violation(
        logs,
        propensity.is_nan() | (propensity <= 0) | (propensity > 1),
        "propensity",
        "'propensity in (0, 1]'",
        "the logging policy's probability of the logged action, in (0, 1]",
    )
    candidates = pl.col("candidate_actions")
    _violation(
        logs,
        (candidates.list.len() == 0) | (candidates.list.n_unique() != candidates.list.len()),
        "candidate_actions",
        "'candidate_actions is a non-empty set'",
        "at least one action and no action listed twice",
    )
    _violation(
        logs,
        ~candidates.list.contains(pl.col("action")),
        "action",
        "'action in candidate_actions'",
        "the logged action to be one of the row's candidate_actions",
        value=pl.concat_str(pl.col("action").cast(pl.String), pl.lit(" not in "), candidates.cast(pl.List(pl.String)).list.join(", ")),
    )
    if "action_probs" in logs.columns:
        probs = pl.col("action_probs")
        _violation(
            logs,
            probs.is_not_null() & (probs.list.len() != candidates.list.len()),
            "action_probs",
            "'one probability per candidate action'",
            "action_probs as long as candidate_actions",
        )
        _violation(
            logs,
            probs.is_not_null() & ((probs.list.min() < 0) | (probs.list.max() > 1) | probs.list.eval(pl.element().is_nan()).list.any()),
            "action_probs",
            "'each probability in [0, 1]'",
            "probabilities in [0, 1]",
        )
        _violation(
            logs,
            probs.is_not_null() & ((probs.list.sum() - 1).abs() > PROBABILITY_SUM_TOLERANCE),
            "action_probs",
            f"'action_probs sums to 1 (tolerance {PROBABILITY_SUM_TOLERANCE:g})'",
            "a probability distribution over candidate_actions",
            value=probs.list.sum(),
        )
        chosen = _probability_of_logged_action()
        _violation(
            logs.with_columns(chosen.alias("__chosen")),
            pl.col("action_probs").is_not_null() & ((pl.col("__chosen") - propensity).abs() > PROBABILITY_SUM_TOLERANCE),
            "propensity",
            "'propensity equals action_probs at the logged action'",
            "the same probability in propensity and action_probs",
            value=pl.concat_str(
                propensity.cast(pl.String), pl.lit(" vs action_probs "), pl.col("__chosen").cast(pl.String)
            ),
        )

    lengths = logs.select(pl.col("context").list.len().alias("n"))["n"]
    if lengths.n_unique() > 1:
        usual = lengths.mode().sort()[0]
        _violation(
            logs,
            pl.col("context").list.len() != usual,
            "context",
            "'every context has the same length'",
            f"{usual} features per row, as most rows have",
        )

    allowed = list(vocabulary)
    _violation(
        logs,
        ~pl.col("feedback").is_in(allowed),
        "feedback",
        "'feedback in the declared vocabulary'",
        f"one of {allowed[:20]}{' ...' if len(allowed) > 20 else ''} (declare others with --vocabulary)",
    )
    _violation(
        logs,
        pl.col("event_id").is_duplicated(),
        "event_id",
        "'event_id is unique'",
        "each logged decision to appear once",
    )


def _probability_of_logged_action() -> pl.Expr:
    """``action_probs[index of action in candidate_actions]`` as an expression."""
    return (
        pl.struct("candidate_actions", "action_probs", "action")
        .map_batches(_pick_logged_probability, return_dtype=pl.Float64)
    )


def _pick_logged_probability(struct: pl.Series) -> pl.Series:
    frame = struct.struct.unnest().with_row_index("__i")
    exploded = frame.select("__i", "action", "candidate_actions", "action_probs").explode(
        ["candidate_actions", "action_probs"]
    )
    picked = (
        exploded.filter(pl.col("candidate_actions") == pl.col("action"))
        .group_by("__i")
        .agg(pl.col("action_probs").first())
    )
    return frame.select("__i").join(picked, on="__i", how="left", maintain_order="left")["action_probs"]

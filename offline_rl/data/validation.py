"""Check a canonical table once, at the boundary: cast what is text, then check every row rule
on a SQL engine.

Two steps, whatever the entry point (files read by :mod:`offline_rl.data.loading`, in-memory
frames through :func:`validate_log_frame`, a prepared ``ik_training_set`` through
:func:`validate_ik_training_set`):

1. **Types, here.** Every required column present with a dtype the table accepts; text parsed
   where the table allows it (CSV, or string columns in a Parquet file: JSON lists and ISO
   8601 times), a cell that does not parse named by its row (:func:`cast_to_canonical`).
   Parquet columns already typed are not read here at all.
2. **Rows, on the engine.** :func:`check_rows` runs the queries of
   :mod:`offline_rl.data.rule_queries` on DuckDB (in this process) or Spark (on a cluster):
   one aggregate pass counts, for every rule, the rows that break it and finds the first of
   them; a second counts repeated ``event_id``; only when a rule is broken is its first row
   fetched to show its value. Nothing but counts and that one row comes back to this
   process, so a billion-row night is checked where it lies.

The first rule broken raises one :class:`~offline_rl.errors.SchemaError` that names the
source (file), the column, the row (0-based data row within that file) with its
``event_id``, the value, the rule, what was expected and how many rows break it. Rules are
checked in this order, and within a rule the first row in file order, then row order, is
reported:

1. the input holds at least one row;
2. every required column is present with an accepted dtype, and ``event_id``/``user_id``
   have one id type across files;
3. ``ts`` strings parse as timestamps (ISO 8601; naive times are UTC) and JSON lists decode;
4. required columns hold no nulls (in column order);
5. the table's row rules, in their declared order (for logs: propensity in (0, 1];
   ``candidate_actions`` a non-empty set; ``action`` among them; ``action_probs``, when
   present, one probability in [0, 1] per candidate, summing to 1 and agreeing with
   ``propensity``; every ``context`` as long as the first row's; ``feedback`` in the declared
   vocabulary);
6. ``event_id`` is unique across all files.

The rules themselves are declared once, as SQL expressions, in :mod:`offline_rl.schema`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import polars as pl

from offline_rl.data.engines import SOURCE_INDEX, SOURCE_ROW, Queries, SqlEngine, sql_engine
from offline_rl.data.rule_queries import (
    ROWS_PER_FILE,
    first_repeat_query,
    repeats_query,
    row_query,
    violations_query,
)
from offline_rl.errors import SchemaError
from offline_rl.schema import (
    EVENT_ID_UNIQUE,
    IK_TRAINING_SET_TABLE,
    LOG_TABLE,
    STRING_DTYPES,
    TEXT_JSON_LIST,
    TEXT_TIMESTAMP,
    TIMESTAMP_PARSES,
    Column,
    RowRule,
    RuleInputs,
    Table,
)

#: How an in-memory frame is named in messages.
IN_MEMORY = "in-memory frame"

#: The id columns that must have one type across files.
ID_COLUMNS = ("event_id", "user_id")


# ------------------------------------------------------------------------------------ types
def accepted_dtype(column: Column, dtype: pl.DataType, source: str) -> bool:
    """Whether ``column`` holding ``dtype`` is read as is (True) or parsed from text (False).

    Raises :class:`SchemaError` for a dtype the table does not accept.
    """
    if column.type.canonical(dtype) is not None:
        return True
    if isinstance(dtype, STRING_DTYPES) and column.type.text in (TEXT_TIMESTAMP, TEXT_JSON_LIST):
        return False
    raise SchemaError(f"{source}: column {column.name!r} has dtype {dtype}; expected {column.type.words}")


def cast_to_canonical(frame: pl.DataFrame, table: Table, source: str, *, index: int = 0) -> pl.DataFrame:
    """``frame`` with each of ``table``'s columns cast to its canonical dtype, text parsed,
    plus :data:`~offline_rl.data.engines.SOURCE_INDEX` (``index``) and
    :data:`~offline_rl.data.engines.SOURCE_ROW` (0-based row) columns.

    Raises :class:`SchemaError` for a column whose dtype the table does not accept, a
    JSON-list cell that does not decode, or a ``ts`` string that does not parse.
    """
    frame = frame.with_columns(
        pl.lit(index, dtype=pl.Int64).alias(SOURCE_INDEX), pl.int_range(pl.len(), dtype=pl.Int64).alias(SOURCE_ROW)
    )
    casts = [_cast(frame, column, source) for column in table.columns if column.name in frame.columns]
    frame = frame.with_columns(casts)
    for column in table.columns:
        if column.type.text == TEXT_TIMESTAMP and frame.schema.get(column.name) == pl.String:
            frame = _parse_timestamps(frame, column.name, source)
    return frame


def _cast(frame: pl.DataFrame, column: Column, source: str) -> pl.Expr:
    dtype = frame.schema[column.name]
    if accepted_dtype(column, dtype, source):
        return pl.col(column.name).cast(column.type.canonical(dtype))
    if column.type.text == TEXT_TIMESTAMP:
        return pl.col(column.name).cast(pl.String)  # parsed next, naming a bad row's event_id
    return _decode_json_lists(frame, column, source)


def _parse_timestamps(frame: pl.DataFrame, name: str, source: str) -> pl.DataFrame:
    """``name`` parsed from ISO 8601 strings (naive times are UTC); a string that does not
    parse is reported with its row and ``event_id`` (a null is left to the null rule)."""
    parsed = pl.col(name).str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
    unparsed = frame.filter(pl.col(name).is_not_null() & parsed.is_null())
    if unparsed.height:
        first = unparsed.row(0, named=True)
        rule, expected = TIMESTAMP_PARSES
        more = f" ({unparsed.height} rows break this rule)" if unparsed.height > 1 else ""
        event_id = first.get("event_id")
        raise SchemaError(
            f"{source}: column {name!r}, row {first[SOURCE_ROW]} (event_id={event_id!r}): value "
            f"{first[name]!r} breaks the rule {rule}; expected {expected}{more}"
        )
    return frame.with_columns(parsed)


def _decode_json_lists(frame: pl.DataFrame, column: Column, source: str) -> pl.Expr:
    """CSV: a JSON array per cell. Decode leniently to floats, then check each row."""
    name, target = column.name, column.type.list_dtype
    as_floats = pl.col(name).str.json_decode(pl.List(pl.Float64))
    try:
        decoded = frame.select(as_floats.alias("decoded"), pl.col(name).alias("raw"), SOURCE_ROW)
    except pl.exceptions.PolarsError:
        row, value = _first_undecodable_row(frame, name)
        raise SchemaError(
            f"{source}: column {name!r}, row {row}: value {value!r} is not a JSON "
            f"array; expected {target} written as e.g. \"[1, 2, 3]\""
        ) from None
    if target.inner == pl.Int64:
        fractional = decoded.filter(pl.col("decoded").list.eval(pl.element() != pl.element().round(0)).list.any())
        if fractional.height:
            row = fractional.row(0, named=True)
            raise SchemaError(
                f"{source}: column {name!r}, row {row[SOURCE_ROW]}: value {row['raw']!r} holds a "
                f"non-integer; expected {target}"
            )
    return as_floats.cast(target)


def _first_undecodable_row(frame: pl.DataFrame, name: str) -> tuple[int, str]:
    for index, value in enumerate(frame[name].to_list()):
        if value is None:
            continue
        try:
            pl.Series([value]).str.json_decode(pl.List(pl.Float64))
        except pl.exceptions.PolarsError:
            return index, value
    return 0, ""


def missing_columns(names: Sequence[str], table: Table, source: str) -> None:
    """Raise for the first required column of ``table`` absent from ``names``."""
    missing = [name for name in table.required if name not in names]
    if missing:
        raise SchemaError(
            f"{source}: missing column {missing[0]!r} ({table.column(missing[0]).type.words}); "
            f"{table.name} requires {list(table.required)}; found {list(names)}"
        )


class IdTypes:
    """The canonical dtype of each id column, from the first source that has it."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[pl.DataType, str]] = {}

    def check(self, dtypes: Mapping[str, pl.DataType], source: str) -> None:
        """Raise when ``source``'s ids are of another type than an earlier source's."""
        for name in ID_COLUMNS:
            if name not in dtypes:
                continue
            dtype, first_source = self.seen.setdefault(name, (dtypes[name], source))
            if dtypes[name] != dtype:
                raise SchemaError(
                    f"{source}: column {name!r} has dtype {dtypes[name]} but {first_source} has "
                    f"{dtype}; expected one id type across all files"
                )


# ------------------------------------------------------------------------------------ rows
def first_context_length(frame: pl.DataFrame) -> int:
    """The first row's context length (0 when there is none), which every row must match."""
    if not frame.height or "context" not in frame.columns:
        return 0
    return int(frame["context"].list.len()[0] or 0)


def rules_to_check(table: Table, columns: Sequence[str], inputs: RuleInputs) -> list[RowRule]:
    """The null rules, then the table's row rules that apply to ``columns`` and ``inputs``."""
    rules = [rule for rule in table.null_rules if rule.column in columns]
    rules.extend(
        rule
        for rule in table.rules
        if all(name in columns for name in (rule.column, *rule.needs))
        and (inputs.vocabulary is not None or not rule.needs_vocabulary)
    )
    return rules


def check_rows(
    queries: Queries,
    table: Table,
    *,
    sources: Sequence[str],
    columns: Sequence[str],
    inputs: RuleInputs,
) -> int:
    """Check every row rule of ``table`` on the view ``logs``; return the number of rows.

    Parameters
    ----------
    queries
        An engine's :meth:`~offline_rl.data.engines.SqlEngine.open` over ``{"logs": rows}``,
        the rows a :class:`~offline_rl.data.engines.NumberedParquet` or a frame carrying
        :data:`~offline_rl.data.engines.SOURCE_INDEX` and :data:`~offline_rl.data.engines.SOURCE_ROW`.
    sources
        The name of each source, by index, as messages print it.
    columns
        The table's columns the rows hold (rules on absent optional columns are skipped).
    inputs
        The first row's context length and the vocabulary (``None`` skips that rule).

    Raises
    ------
    SchemaError
        For an empty input, or the first rule broken (named by its first row).
    """
    rules = rules_to_check(table, columns, inputs)
    query = violations_query(rules)
    counts = queries.run(query, _parameters(query, inputs)).to_pylist()[0]
    if counts["unnumbered"]:
        raise RuntimeError(
            f"the engine could not tell the file of {counts['unnumbered']} rows, so validation "
            f"cannot name their rows (sources: {list(sources)[:5]})"
        )
    if not counts["rows"]:
        raise SchemaError(f"empty input: {', '.join(map(str, sources))} hold no rows")
    for index, rule in enumerate(rules):
        if counts[f"broken_{index}"]:
            row = _row_at(queries, counts[f"first_{index}"])
            _raise(rule, rule.shown(row), row, counts[f"broken_{index}"], sources, inputs)
    repeats = queries.run(repeats_query(), {}).to_pylist()[0]["repeats"]
    if repeats:
        row = _row_at(queries, queries.run(first_repeat_query(), {}).to_pylist()[0]["first"])
        rule, expected = EVENT_ID_UNIQUE
        _raise(RowRule("event_id", rule, expected, "FALSE"), row["event_id"], row, repeats, sources, inputs)
    return int(counts["rows"])


def _parameters(query: str, inputs: RuleInputs) -> dict[str, object]:
    return {name: value for name, value in inputs.parameters().items() if f"${name}" in query}


def _row_at(queries: Queries, position: int) -> dict:
    index, row = divmod(int(position), ROWS_PER_FILE)
    return queries.run(row_query(), {"source_index": index, "source_row": row}).to_pylist()[0]


def _raise(rule: RowRule, value, row: Mapping, count: int, sources: Sequence[str], inputs: RuleInputs) -> None:
    more = f" ({count} rows break this rule)" if count > 1 else ""
    raise SchemaError(
        f"{sources[row[SOURCE_INDEX]]}: column {rule.column!r}, row {row[SOURCE_ROW]} "
        f"(event_id={row.get('event_id')!r}): value {_show(value)} breaks the rule {rule.rule}; "
        f"expected {rule.expectation(inputs)}{more}"
    )


def _show(value) -> str:
    if isinstance(value, list) and len(value) > 8:
        return repr(value[:8])[:-1] + ", ...]"
    return repr(value)


# ------------------------------------------------------------------------------------ frames
def validate_frame(
    frame: pl.DataFrame,
    table: Table,
    *,
    vocabulary: Sequence[str] | None = None,
    source: str | os.PathLike[str] = IN_MEMORY,
    engine: str | SqlEngine = "duckdb",
) -> pl.DataFrame:
    """Check an in-memory ``frame`` against ``table``; return its columns cast to canonical types.

    The result holds the table's columns present in ``frame``, in the table's order (other
    columns are dropped). ``source`` names the frame in messages (a file path where it
    came from one); rows are numbered from 0. The rows are checked on ``engine`` (DuckDB
    reads the frame in place; Spark receives it from this process).
    """
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame of {table.name}; got {type(frame).__name__}")
    source = str(source)
    missing_columns(frame.columns, table, source)
    columns = [column.name for column in table.columns if column.name in frame.columns]
    typed = cast_to_canonical(frame.select(columns), table, source)
    inputs = RuleInputs(context_length=first_context_length(typed), vocabulary=_vocabulary(vocabulary))
    with sql_engine(engine).open({"logs": typed}) as queries:
        check_rows(queries, table, sources=[source], columns=columns, inputs=inputs)
    return typed.select(columns)


def _vocabulary(vocabulary: Sequence[str] | None) -> tuple[str, ...] | None:
    return tuple(vocabulary) if vocabulary is not None else None


def validate_log_frame(
    frame: pl.DataFrame,
    *,
    vocabulary: Sequence[str] | None = None,
    source: str | os.PathLike[str] = IN_MEMORY,
    engine: str | SqlEngine = "duckdb",
) -> pl.DataFrame:
    """Check in-memory logs against the canonical log schema; return them in canonical types.

    Every rule of :data:`~offline_rl.schema.LOG_TABLE` is checked; the feedback vocabulary
    only when ``vocabulary`` is given (a frame declares none).
    """
    return validate_frame(frame, LOG_TABLE, vocabulary=vocabulary, source=source, engine=engine)


def validate_ik_training_set(
    frame: pl.DataFrame,
    *,
    vocabulary: Sequence[str] | None = None,
    source: str | os.PathLike[str] = IN_MEMORY,
) -> pl.DataFrame:
    """Check a prepared ``ik_training_set`` (e.g. read from ``ik_training_set.parquet``).

    Columns and dtypes of :data:`~offline_rl.schema.IK_TRAINING_SET_TABLE`, no nulls,
    propensity in (0, 1], candidate sets, ``num_candidates == len(candidate_actions)``,
    ``candidate_actions[action_index] == action``, ``weight`` finite and > 0 (and, when
    ``raw_weight`` is present, ``raw_weight == 1 / (K * propensity)`` and ``weight <=
    raw_weight``), equal context lengths, unique ``event_id``; the vocabulary when given.
    Returns the table's columns in canonical types.
    """
    return validate_frame(frame, IK_TRAINING_SET_TABLE, vocabulary=vocabulary, source=source)

"""Check a canonical table once, at the boundary: cast its columns, then check every row rule.

Every entry point goes through :class:`TableValidator`: files read batch by batch
(:func:`offline_rl.data.loading.load_logs`, :func:`~offline_rl.data.loading.validate_logs`),
in-memory frames (:func:`validate_log_frame`, which ``prepare`` and the in-memory marts call),
and a prepared ``ik_training_set`` (:func:`validate_ik_training_set`, which ``fit-igl``
calls). The tables, their accepted dtypes and their rules are declared in
:mod:`offline_rl.schema`; this module applies them.

The first rule broken raises one :class:`~offline_rl.errors.SchemaError` that names the
source (file), the column, the row (0-based data row within that file) with its
``event_id``, the value, the rule, and what was expected. Checks, in order:

1. the input holds at least one row;
2. every required column is present with an accepted dtype;
3. required columns hold no nulls;
4. ``ts`` strings parse as timestamps (ISO 8601; naive times are taken as UTC);
5. the table's row rules, in their declared order (for logs: propensity in (0, 1];
   ``candidate_actions`` a non-empty set; ``action`` among them; ``action_probs``, when
   present, one probability in [0, 1] per candidate, summing to 1 and agreeing with
   ``propensity``; equal ``context`` lengths; ``feedback`` in the declared vocabulary);
6. ``event_id`` is unique across all files.

Memory stays bounded: across batches only ``event_id`` (with its file and row, to report a
duplicate), the id dtypes and the first row's context length are kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import polars as pl

from offline_rl.errors import SchemaError
from offline_rl.schema import (
    EVENT_ID_UNIQUE,
    IK_TRAINING_SET_TABLE,
    LOG_TABLE,
    NO_NULLS,
    STRING_DTYPES,
    TEXT_JSON_LIST,
    TEXT_TIMESTAMP,
    TIMESTAMP_PARSES,
    Column,
    RowRule,
    RuleInputs,
    Table,
)

#: Helper columns every batch carries: the source it came from and its 0-based row there.
SOURCE = "__source_file"
ROW = "__source_row"

#: How an in-memory frame is named in messages.
IN_MEMORY = "in-memory frame"

_IDS = ("event_id", "user_id")


# ------------------------------------------------------------------------------------ casting
def cast_to_canonical(frame: pl.DataFrame, table: Table, source: str, offset: int = 0) -> pl.DataFrame:
    """``frame`` with each of ``table``'s columns cast to its canonical dtype, plus the
    :data:`SOURCE` and :data:`ROW` columns (rows numbered from ``offset``).

    Raises :class:`SchemaError` for a column whose dtype the table does not accept, or a
    JSON-list cell that does not decode.
    """
    # The source as a categorical: one code per row instead of one string per row.
    frame = frame.with_row_index(ROW, offset=offset).with_columns(
        pl.lit(source, dtype=pl.Categorical).alias(SOURCE)
    )
    casts = [_cast(frame, column, source) for column in table.columns if column.name in frame.columns]
    return frame.with_columns(casts)


def _cast(frame: pl.DataFrame, column: Column, source: str) -> pl.Expr:
    dtype = frame.schema[column.name]
    target = column.type.canonical(dtype)
    if target is not None:
        return pl.col(column.name).cast(target)
    if isinstance(dtype, STRING_DTYPES) and column.type.text == TEXT_TIMESTAMP:
        # Parsed by the validator, so that a bad value names its row and event_id.
        return pl.col(column.name).cast(pl.String)
    if isinstance(dtype, STRING_DTYPES) and column.type.text == TEXT_JSON_LIST:
        return _decode_json_lists(frame, column, source)
    raise SchemaError(f"{source}: column {column.name!r} has dtype {dtype}; expected {column.type.words}")


def _decode_json_lists(frame: pl.DataFrame, column: Column, source: str) -> pl.Expr:
    """CSV: a JSON array per cell. Decode leniently to floats, then check each row."""
    name, target = column.name, column.type.list_dtype
    as_floats = pl.col(name).str.json_decode(pl.List(pl.Float64))
    try:
        decoded = frame.select(as_floats.alias("decoded"), pl.col(name).alias("raw"), ROW)
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
                f"{source}: column {name!r}, row {row[ROW]}: value {row['raw']!r} holds a "
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


# ------------------------------------------------------------------------------------ rules
class TableValidator:
    """Checks batches of one table in turn, keeping only what the cross-batch rules need.

    Parameters
    ----------
    table
        The table declaration (:data:`~offline_rl.schema.LOG_TABLE`, ...).
    vocabulary
        The feedback signals allowed; ``None`` skips the vocabulary rule.

    Use :meth:`check` on each batch (cast by :func:`cast_to_canonical`), then :meth:`finish`.
    """

    def __init__(self, table: Table, *, vocabulary: Sequence[str] | None) -> None:
        self.table = table
        self.vocabulary = tuple(vocabulary) if vocabulary is not None else None
        self.rows = 0
        self._context_length: int | None = None
        self._id_types: dict[str, tuple[pl.DataType, str]] = {}
        self._event_ids: list[pl.DataFrame] = []

    def check(self, batch: pl.DataFrame, source: str) -> pl.DataFrame:
        """Check every per-row rule on ``batch``; return it with ``ts`` strings parsed."""
        self._check_id_types(batch, source)
        nulls = [
            RowRule(name, NO_NULLS, f"a {self.table.column(name).type.words}", lambda _, name=name: pl.col(name).is_null())
            for name in self.table.required
        ]
        _report_first_failure(batch, nulls, None)
        batch = self._parse_timestamps(batch)
        if self._context_length is None and batch.height and "context" in batch.columns:
            self._context_length = batch["context"].list.len()[0]
        inputs = RuleInputs(context_length=self._context_length or 0, vocabulary=self.vocabulary)
        rules = [rule for rule in self.table.rules if all(name in batch.columns for name in rule.needs)]
        _report_first_failure(batch, rules, inputs)
        self.rows += batch.height
        self._event_ids.append(batch.select("event_id", SOURCE, ROW))
        return batch

    def finish(self, sources: Sequence[str]) -> None:
        """The checks that need every batch: a non-empty input and unique ``event_id``."""
        if self.rows == 0:
            raise SchemaError(f"empty input: {', '.join(map(str, sources))} hold no rows")
        everything = pl.concat(self._event_ids, how="vertical")
        rule, expected = EVENT_ID_UNIQUE
        _report_first_failure(
            everything, [RowRule("event_id", rule, expected, lambda _: ~pl.col("event_id").is_first_distinct())], None
        )

    def _check_id_types(self, batch: pl.DataFrame, source: str) -> None:
        for name in _IDS:
            if name not in batch.columns:
                continue
            dtype, first_source = self._id_types.setdefault(name, (batch.schema[name], source))
            if batch.schema[name] != dtype:
                raise SchemaError(
                    f"{source}: column {name!r} has dtype {batch.schema[name]} but {first_source} has "
                    f"{dtype}; expected one id type across all files"
                )

    def _parse_timestamps(self, batch: pl.DataFrame) -> pl.DataFrame:
        for column in self.table.columns:
            if column.type.text != TEXT_TIMESTAMP or batch.schema.get(column.name) != pl.String:
                continue
            parsed = pl.col(column.name).str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
            rule, expected = TIMESTAMP_PARSES
            _report_first_failure(batch, [RowRule(column.name, rule, expected, lambda _, p=parsed: p.is_null())], None)
            batch = batch.with_columns(parsed)
        return batch


def _report_first_failure(frame: pl.DataFrame, rules: Sequence[RowRule], inputs: RuleInputs | None) -> None:
    """Count every rule's violations in one pass; raise for the first rule that has any."""
    masks = [(rule, rule.broken(inputs)) for rule in rules]
    masks = [(rule, mask.fill_null(True)) for rule, mask in masks if mask is not None]
    if not masks:
        return
    derived = {name: function for rule, _ in masks for name, function in rule.derived.items()}
    if derived:
        frame = frame.with_columns([function(frame).alias(name) for name, function in derived.items()])
    counts = frame.lazy().select([mask.sum().alias(str(index)) for index, (_, mask) in enumerate(masks)]).collect().row(0)
    for (rule, mask), count in zip(masks, counts, strict=True):
        if not count:
            continue
        value = rule.value if rule.value is not None else pl.col(rule.column)
        first = (
            frame.lazy()
            .filter(mask)
            .select(SOURCE, ROW, "event_id", value.alias("__value"))
            .head(1)
            .collect()
            .row(0, named=True)
        )
        more = f" ({count} rows break this rule)" if count > 1 else ""
        expected = rule.expectation(inputs) if inputs is not None else rule.expected
        raise SchemaError(
            f"{first[SOURCE]}: column {rule.column!r}, row {first[ROW]} (event_id={first['event_id']!r}): "
            f"value {_show(first['__value'])} breaks the rule {rule.rule}; expected {expected}{more}"
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
) -> pl.DataFrame:
    """Check an in-memory ``frame`` against ``table``; return its columns cast to canonical types.

    The result holds the table's columns present in ``frame``, in the table's order (other
    columns are dropped). ``source`` names the frame in messages (a file path where it
    came from one); rows are numbered from 0.
    """
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame of {table.name}; got {type(frame).__name__}")
    source = str(source)
    missing_columns(frame.columns, table, source)
    validator = TableValidator(table, vocabulary=vocabulary)
    checked = validator.check(cast_to_canonical(frame, table, source), source)
    validator.finish([source])
    return checked.select([column.name for column in table.columns if column.name in frame.columns])


def validate_log_frame(
    frame: pl.DataFrame,
    *,
    vocabulary: Sequence[str] | None = None,
    source: str | os.PathLike[str] = IN_MEMORY,
) -> pl.DataFrame:
    """Check in-memory logs against the canonical log schema; return them in canonical types.

    Every rule of :data:`~offline_rl.schema.LOG_TABLE` is checked; the feedback vocabulary
    only when ``vocabulary`` is given (a frame declares none).
    """
    return validate_frame(frame, LOG_TABLE, vocabulary=vocabulary, source=source)


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

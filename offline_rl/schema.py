"""The canonical tables, declared once: their columns, the types each column accepts, and the
row rules that every entry point checks.

This module is the single declaration of the public contract that every loader,
simulator, SQL job and learner agrees on. It imports no torch. Everything else is derived
from :data:`LOG_TABLE` (and :data:`IK_TRAINING_SET_TABLE` for the prepared IK rows): the
Arrow schema the simulators write (:data:`LOG_SCHEMA`), the required and optional columns,
the dtypes a loader accepts and casts, which CSV columns are read as text, and the rules
(with their messages) that :mod:`offline_rl.data.validation` runs.

==================  ============================  ==============================================
column              type                          meaning
==================  ============================  ==============================================
event_id            string or int64, unique       the decision
ts                  timestamp                     when it was logged
user_id             string or int64               who (also the personalization key)
context             list<float> (may be empty)    dense context features
candidate_actions   list<int64>                   the action set A_t; may vary per row
action              int64, in candidate_actions   what the logging policy showed
propensity          double in (0, 1]              the logging policy's P(action | x)
action_probs        list<double>, optional        logging distribution over candidate_actions
feedback            string                        one signal from a declared vocabulary
reward              double, optional              hidden latent reward, simulation only
==================  ============================  ==============================================

The feedback vocabulary is declared, in order of precedence, by the caller, by the
Parquet file's schema metadata (key :data:`VOCABULARY_METADATA_KEY`, a JSON list that the
simulators write), or else :data:`DEFAULT_FEEDBACK_VOCABULARY`. An in-memory frame declares
none, so its signals are checked only against a vocabulary the caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import pyarrow as pa

SCHEMA_VERSION = "1"

#: Metadata key under which a Parquet file declares its feedback vocabulary (JSON list).
VOCABULARY_METADATA_KEY = b"offline_rl.feedback_vocabulary"

#: The simulation-only latent reward. No learner may read it.
HIDDEN_REWARD_COLUMN = "reward"

#: Signals a recommender commonly logs. ``none`` means the user gave no feedback.
DEFAULT_FEEDBACK_VOCABULARY: tuple[str, ...] = (
    "none",
    "click",
    "skip",
    "like",
    "dislike",
    "love",
    "haha",
    "wow",
    "sad",
    "angry",
    "comment",
    "share",
)

#: Tolerance on ``sum(action_probs) == 1`` and on ``propensity == action_probs[action]``.
PROBABILITY_SUM_TOLERANCE = 1e-6

#: Relative tolerance on ``raw_weight == 1 / (num_candidates * propensity)`` in a prepared
#: ``ik_training_set`` (DuckDB and polars may round the division differently).
WEIGHT_TOLERANCE = 1e-9


# ------------------------------------------------------------------------------------ types
INTEGER_DTYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
FLOAT_DTYPES = (pl.Float32, pl.Float64)
NUMBER_DTYPES = (*INTEGER_DTYPES, *FLOAT_DTYPES)
STRING_DTYPES = (pl.String, pl.Categorical, pl.Enum)
LIST_DTYPES = (pl.List, pl.Array)

#: How a string cell of a column is parsed (CSV input, or strings in a Parquet file).
TEXT_JSON_LIST = "json list"
TEXT_TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class ColumnType:
    """What a column holds: the Arrow type written, the dtypes accepted on input and the
    canonical polars dtype each becomes, and how a string cell is parsed.

    Attributes
    ----------
    words
        The type in words, as error messages print it ("expected int64 or string").
    arrow
        The canonical Arrow type (what the simulators write, :data:`LOG_SCHEMA`).
    casts
        ``(accepted input dtype classes, canonical polars dtype)`` pairs, tried in order.
    elements
        For list types: the element dtype classes accepted (a list of nulls is accepted too).
    text
        How a string cell is parsed when strings are not accepted as such:
        :data:`TEXT_JSON_LIST` (decoded on read) or :data:`TEXT_TIMESTAMP` (ISO 8601,
        parsed by a row rule so that a bad value names its row and ``event_id``).
    """

    words: str
    arrow: pa.DataType
    casts: tuple[tuple[tuple[type, ...], pl.DataType], ...]
    elements: tuple[type, ...] | None = None
    text: str | None = None

    def canonical(self, dtype: pl.DataType) -> pl.DataType | None:
        """The canonical dtype an input of ``dtype`` is cast to, or ``None`` if refused."""
        for classes, target in self.casts:
            if not isinstance(dtype, classes):
                continue
            if self.elements is None or isinstance(dtype.inner, (*self.elements, pl.Null)):
                return target
        return None

    @property
    def list_dtype(self) -> pl.DataType | None:
        """The canonical polars dtype of a list type (``None`` for scalar types)."""
        return self.casts[0][1] if self.elements is not None else None

    @property
    def csv_as_text(self) -> bool:
        """Read this column from CSV as text: it is parsed from text, or it is text."""
        return self.text is not None or all(target == pl.String for _, target in self.casts)


IDENTIFIER = ColumnType("int64 or string", pa.int64(), ((INTEGER_DTYPES, pl.Int64), (STRING_DTYPES, pl.String)))
TIMESTAMP = ColumnType(
    "timestamp (or an ISO 8601 string)",
    pa.timestamp("us", tz="UTC"),
    (((pl.Datetime, pl.Date), pl.Datetime("us", "UTC")),),
    text=TEXT_TIMESTAMP,
)
FLOAT_LIST = ColumnType(
    "list<float>", pa.list_(pa.float32()), ((LIST_DTYPES, pl.List(pl.Float32)),), NUMBER_DTYPES, TEXT_JSON_LIST
)
INT64_LIST = ColumnType(
    "list<int64>", pa.list_(pa.int64()), ((LIST_DTYPES, pl.List(pl.Int64)),), INTEGER_DTYPES, TEXT_JSON_LIST
)
DOUBLE_LIST = ColumnType(
    "list<double>", pa.list_(pa.float64()), ((LIST_DTYPES, pl.List(pl.Float64)),), NUMBER_DTYPES, TEXT_JSON_LIST
)
INT64 = ColumnType("int64", pa.int64(), ((INTEGER_DTYPES, pl.Int64),))
DOUBLE = ColumnType("double", pa.float64(), ((NUMBER_DTYPES, pl.Float64),))
STRING = ColumnType("string", pa.string(), ((STRING_DTYPES, pl.String),))


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    type: ColumnType
    meaning: str
    required: bool = True


# ------------------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class RuleInputs:
    """What the row rules depend on beyond the row: state carried from the first batch."""

    context_length: int
    vocabulary: tuple[str, ...] | None

    @property
    def vocabulary_shown(self) -> str:
        allowed = list(self.vocabulary or ())
        return f"{allowed[:20]}{' ...' if len(allowed) > 20 else ''}"


@dataclass(frozen=True)
class RowRule:
    """One row rule: which rows break it, and how the first of them is reported.

    The report reads ``<file>: column <column>, row <i> (event_id=<id>): value <value>
    breaks the rule <rule>; expected <expected>``.

    Attributes
    ----------
    column
        The column the message names.
    rule
        The rule, quoted as it is printed.
    expected
        What was expected; ``{context_length}`` and ``{vocabulary}`` are filled in from
        :class:`RuleInputs`.
    broken
        ``broken(inputs)`` is a boolean expression, true (or null) on rows that break the
        rule; ``None`` skips the rule (the vocabulary rule when no vocabulary is declared).
    value
        The value shown (default: the column).
    needs
        Optional columns the rule reads; it is skipped when one is absent.
    derived
        Helper columns the rule reads, by name: ``function(frame) -> Series``.
    """

    column: str
    rule: str
    expected: str
    broken: Callable[[RuleInputs], pl.Expr | None]
    value: pl.Expr | None = None
    needs: tuple[str, ...] = ()
    derived: Mapping[str, Callable[[pl.DataFrame], pl.Series]] = field(default_factory=dict)

    def expectation(self, inputs: RuleInputs) -> str:
        return self.expected.format(
            context_length=inputs.context_length, vocabulary=inputs.vocabulary_shown
        )


#: The rule a ``ts`` string breaks when it does not parse (checked before the row rules).
TIMESTAMP_PARSES = ("'ts parses as a timestamp'", "an ISO 8601 time such as 2026-11-01T08:30:00Z")
#: The rule a null in a required column breaks; the expectation is "a <type in words>".
NO_NULLS = "'no nulls in required columns'"
#: The rule an ``event_id`` seen before breaks (checked across all files, after the rows).
EVENT_ID_UNIQUE = (
    "'event_id is unique'",
    "each logged decision to appear once; this event_id was already seen earlier",
)

_CHOSEN = "__chosen"
_propensity = pl.col("propensity")
_candidates = pl.col("candidate_actions")
_probs = pl.col("action_probs")


def probability_of_logged_action(logs: pl.DataFrame) -> pl.Series:
    """``action_probs[index of action in candidate_actions]`` per row (null where absent).

    Rows whose action appears once among their candidates give one probability; rows
    whose ``action_probs`` length differs from the candidate set's are left null (their
    own rule reports them).
    """
    candidates = logs["candidate_actions"]
    probs = logs["action_probs"]
    lengths = candidates.list.len().to_numpy()
    usable = probs.list.len().fill_null(-1).to_numpy() == lengths
    result = np.full(logs.height, np.nan)
    if usable.any():
        flat_candidates = candidates.filter(pl.Series(usable)).explode().to_numpy()
        flat_probs = probs.filter(pl.Series(usable)).explode().to_numpy()
        repeated_actions = np.repeat(logs["action"].to_numpy()[usable], lengths[usable])
        match = flat_candidates == repeated_actions
        rows = np.repeat(np.arange(usable.sum()), lengths[usable])[match]
        picked = np.full(usable.sum(), np.nan)
        picked[rows] = flat_probs[match]
        result[usable] = picked
    return pl.Series(_CHOSEN, result).fill_nan(None)


PROPENSITY_IN_RANGE = RowRule(
    "propensity",
    "'propensity in (0, 1]'",
    "the logging policy's probability of the logged action, in (0, 1]",
    lambda _: _propensity.is_nan() | (_propensity <= 0) | (_propensity > 1),
)
CANDIDATES_ARE_A_SET = RowRule(
    "candidate_actions",
    "'candidate_actions is a non-empty set'",
    "at least one action and no action listed twice",
    lambda _: (_candidates.list.len() == 0) | (_candidates.list.n_unique() != _candidates.list.len()),
)
ACTION_IN_CANDIDATES = RowRule(
    "action",
    "'action in candidate_actions'",
    "the logged action to be one of the row's candidate_actions",
    lambda _: ~_candidates.list.contains(pl.col("action")),
    value=pl.concat_str(
        pl.col("action").cast(pl.String), pl.lit(" not in "), _candidates.cast(pl.List(pl.String)).list.join(", ")
    ),
)
ONE_PROBABILITY_PER_CANDIDATE = RowRule(
    "action_probs",
    "'one probability per candidate action'",
    "action_probs as long as candidate_actions",
    lambda _: _probs.is_not_null() & (_probs.list.len() != _candidates.list.len()),
    needs=("action_probs",),
)
PROBABILITIES_IN_RANGE = RowRule(
    "action_probs",
    "'each probability in [0, 1]'",
    "probabilities in [0, 1]",
    lambda _: _probs.is_not_null()
    & ((_probs.list.min() < 0) | (_probs.list.max() > 1) | _probs.list.eval(pl.element().is_nan()).list.any()),
    needs=("action_probs",),
)
PROBABILITIES_SUM_TO_ONE = RowRule(
    "action_probs",
    f"'action_probs sums to 1 (tolerance {PROBABILITY_SUM_TOLERANCE:g})'",
    "a probability distribution over candidate_actions",
    lambda _: _probs.is_not_null() & ((_probs.list.sum() - 1).abs() > PROBABILITY_SUM_TOLERANCE),
    value=_probs.list.sum(),
    needs=("action_probs",),
)
PROPENSITY_MATCHES_PROBABILITIES = RowRule(
    "propensity",
    "'propensity equals action_probs at the logged action'",
    "the same probability in propensity and action_probs",
    lambda _: _probs.is_not_null() & ((pl.col(_CHOSEN) - _propensity).abs() > PROBABILITY_SUM_TOLERANCE),
    value=pl.concat_str(_propensity.cast(pl.String), pl.lit(" vs action_probs "), pl.col(_CHOSEN).cast(pl.String)),
    needs=("action_probs",),
    derived={_CHOSEN: probability_of_logged_action},
)
CONTEXT_LENGTH_FIXED = RowRule(
    "context",
    "'every context has the same length'",
    "{context_length} features per row, as the first row has",
    lambda given: pl.col("context").list.len() != given.context_length,
)
FEEDBACK_IN_VOCABULARY = RowRule(
    "feedback",
    "'feedback in the declared vocabulary'",
    "one of {vocabulary} (declare others with --vocabulary)",
    lambda given: None if given.vocabulary is None else ~pl.col("feedback").is_in(list(given.vocabulary)),
)

_weight = pl.col("weight")
_raw_weight = pl.col("raw_weight")
_uniform_weight = 1.0 / (pl.col("num_candidates").cast(pl.Float64) * _propensity)

NUM_CANDIDATES_IS_SET_SIZE = RowRule(
    "num_candidates",
    "'num_candidates is the size of candidate_actions'",
    "K_t = len(candidate_actions)",
    lambda _: pl.col("num_candidates") != _candidates.list.len(),
)
ACTION_INDEX_POINTS_AT_ACTION = RowRule(
    "action_index",
    "'candidate_actions[action_index] is action'",
    "the 0-based position of the logged action in candidate_actions",
    lambda _: (pl.col("action_index") < 0)
    | (pl.col("action_index") >= _candidates.list.len())
    | (_candidates.list.get(pl.col("action_index"), null_on_oob=True) != pl.col("action")),
)
WEIGHT_POSITIVE = RowRule(
    "weight",
    "'weight is finite and > 0'",
    "the importance weight 1 / (num_candidates * propensity), clipped at max_weight",
    lambda _: ~_weight.is_finite() | (_weight <= 0),
)
RAW_WEIGHT_IS_UNIFORM_RATIO = RowRule(
    "raw_weight",
    "'raw_weight is 1 / (num_candidates * propensity)'",
    "the unclipped importance weight of IGL-P Algorithm 1, line 10",
    lambda _: (_raw_weight - _uniform_weight).abs() > WEIGHT_TOLERANCE * _uniform_weight.abs(),
    needs=("raw_weight",),
)
WEIGHT_AT_MOST_RAW_WEIGHT = RowRule(
    "weight",
    "'weight is at most raw_weight'",
    "raw_weight, or max_weight where it clips",
    lambda _: _weight > _raw_weight * (1 + WEIGHT_TOLERANCE),
    needs=("raw_weight",),
)


# ------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class Table:
    """A canonical table: its columns in order and its row rules in the order checked.

    Rules are checked in this order after the required columns, their dtypes, their nulls
    and the ``ts`` strings; the first rule any row breaks is the one reported.
    ``event_id`` uniqueness is checked last, across all files.
    """

    name: str
    columns: tuple[Column, ...]
    rules: tuple[RowRule, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if not column.required)

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def arrow_schema(self, metadata: Mapping[bytes, bytes] | None = None) -> pa.Schema:
        """The canonical Arrow schema (required columns not nullable)."""
        fields = [pa.field(c.name, c.type.arrow, nullable=not c.required) for c in self.columns]
        return pa.schema(fields, metadata=metadata)

    def csv_overrides(self) -> dict[str, pl.DataType]:
        """Columns read from CSV as text (then parsed), so CSV type inference cannot guess them."""
        return {column.name: pl.String for column in self.columns if column.type.csv_as_text}


LOG_TABLE = Table(
    name="the canonical log schema",
    columns=(
        Column("event_id", IDENTIFIER, "the decision (unique)"),
        Column("ts", TIMESTAMP, "when it was logged (naive times are UTC)"),
        Column("user_id", IDENTIFIER, "who (also the personalization key)"),
        Column("context", FLOAT_LIST, "dense context features, the same length on every row"),
        Column("candidate_actions", INT64_LIST, "the action set A_t; may vary per row"),
        Column("action", INT64, "what the logging policy showed, in candidate_actions"),
        Column("propensity", DOUBLE, "the logging policy's P(action | x), in (0, 1]"),
        Column("action_probs", DOUBLE_LIST, "the logging distribution over candidate_actions", required=False),
        Column("feedback", STRING, "one signal from the declared vocabulary"),
        Column(HIDDEN_REWARD_COLUMN, DOUBLE, "hidden latent reward, simulation only", required=False),
    ),
    rules=(
        PROPENSITY_IN_RANGE,
        CANDIDATES_ARE_A_SET,
        ACTION_IN_CANDIDATES,
        ONE_PROBABILITY_PER_CANDIDATE,
        PROBABILITIES_IN_RANGE,
        PROBABILITIES_SUM_TO_ONE,
        PROPENSITY_MATCHES_PROBABILITIES,
        CONTEXT_LENGTH_FIXED,
        FEEDBACK_IN_VOCABULARY,
    ),
)

#: Columns a decision to be scored may lack: it need not have been made (no logged action,
#: no propensity) nor answered (no feedback).
DECISION_OUTCOME_COLUMNS = ("action", "propensity", "feedback")


def _needing(rule: RowRule, *columns: str) -> RowRule:
    """``rule``, skipped when one of ``columns`` is absent (as for other optional columns)."""
    return replace(rule, needs=tuple(dict.fromkeys((*rule.needs, *columns))))


#: Decisions to score with a fitted policy (``offline-rl score``): the log schema with the
#: outcome columns optional; every rule of the log schema applies to the columns present.
DECISIONS_TABLE = Table(
    name="the decisions to score",
    columns=tuple(replace(column, required=False) if column.name in DECISION_OUTCOME_COLUMNS
                  else column for column in LOG_TABLE.columns),
    rules=(
        _needing(PROPENSITY_IN_RANGE, "propensity"),
        CANDIDATES_ARE_A_SET,
        _needing(ACTION_IN_CANDIDATES, "action"),
        ONE_PROBABILITY_PER_CANDIDATE,
        PROBABILITIES_IN_RANGE,
        PROBABILITIES_SUM_TO_ONE,
        _needing(PROPENSITY_MATCHES_PROBABILITIES, "propensity", "action"),
        CONTEXT_LENGTH_FIXED,
        _needing(FEEDBACK_IN_VOCABULARY, "feedback"),
    ),
)

#: The rows the IK classifier trains on (``sql/marts/ik_training_set.sql``), as ``prepare``
#: writes them; ``raw_weight`` is optional for tables prepared elsewhere.
IK_TRAINING_SET_TABLE = Table(
    name="the ik_training_set table",
    columns=(
        Column("event_id", IDENTIFIER, "the decision (unique)"),
        Column("ts", TIMESTAMP, "when it was logged"),
        Column("user_id", IDENTIFIER, "who"),
        Column("context", FLOAT_LIST, "x"),
        Column("feedback", STRING, "y"),
        Column("candidate_actions", INT64_LIST, "A_t"),
        Column("num_candidates", INT64, "K_t = len(A_t)"),
        Column("action", INT64, "the logged a_t"),
        Column("action_index", INT64, "0-based position of a_t in candidate_actions"),
        Column("propensity", DOUBLE, "the logged P(a_t | x_t)"),
        Column("raw_weight", DOUBLE, "1 / (K_t * propensity)", required=False),
        Column("weight", DOUBLE, "min(raw_weight, max_weight)"),
    ),
    rules=(
        PROPENSITY_IN_RANGE,
        CANDIDATES_ARE_A_SET,
        ACTION_IN_CANDIDATES,
        NUM_CANDIDATES_IS_SET_SIZE,
        ACTION_INDEX_POINTS_AT_ACTION,
        WEIGHT_POSITIVE,
        RAW_WEIGHT_IS_UNIFORM_RATIO,
        WEIGHT_AT_MOST_RAW_WEIGHT,
        CONTEXT_LENGTH_FIXED,
        FEEDBACK_IN_VOCABULARY,
    ),
)

#: The optional actions table: one row per action id with its features.
ACTIONS_TABLE = Table(
    name="the actions table",
    columns=(
        Column("action_id", INT64, "the action (unique)"),
        Column("features", FLOAT_LIST, "the action's features"),
    ),
    rules=(),
)

REQUIRED_COLUMNS: tuple[str, ...] = LOG_TABLE.required
OPTIONAL_COLUMNS: tuple[str, ...] = LOG_TABLE.optional

#: The canonical Arrow schema, with int64 ids (``event_id`` and ``user_id`` may also be
#: strings; see :data:`IDENTIFIER`).
LOG_SCHEMA = LOG_TABLE.arrow_schema(metadata={b"offline_rl.schema_version": SCHEMA_VERSION.encode()})

#: The Arrow schema of the optional actions table.
ACTIONS_SCHEMA = ACTIONS_TABLE.arrow_schema()


def schema_with_vocabulary(
    vocabulary: Iterable[str], schema: pa.Schema = LOG_SCHEMA
) -> pa.Schema:
    """Return ``schema`` whose metadata declares the feedback ``vocabulary``."""
    metadata = dict(schema.metadata or {})
    metadata[VOCABULARY_METADATA_KEY] = json.dumps(list(vocabulary)).encode()
    return schema.with_metadata(metadata)


def vocabulary_from_metadata(metadata: Mapping[bytes, bytes] | None) -> tuple[str, ...] | None:
    """The vocabulary a file declares in its schema metadata, or ``None``."""
    if not metadata or VOCABULARY_METADATA_KEY not in metadata:
        return None
    return tuple(json.loads(metadata[VOCABULARY_METADATA_KEY].decode()))

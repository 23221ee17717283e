"""``prepare``: raw logs -> the Parquet tables the learners train on.

Validates the logs once (files batch by batch, in-memory frames whole: every entry point
checks the same rules, :mod:`offline_rl.data.validation`), drops nothing but what staging
drops (the hidden ``reward``), and runs the marts ``ik_training_set`` (IGL-P) and
``user_trajectories`` (QR-IQL) with the parameters of :class:`PrepareConfig`. Outputs are
written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from offline_rl.config import Config, Integer, Optional, Real, Rule, Strings
from offline_rl.data.engines import SqlEngine
from offline_rl.data.loading import Source, load_logs, resolve_sources, validate_logs
from offline_rl.data.sql_jobs import run_sql_job, write_sql_job
from offline_rl.data.validation import validate_log_frame

#: Signals that count as a negative user response in ``user_trajectories`` by default.
DEFAULT_NEGATIVE_SIGNALS: tuple[str, ...] = ("none", "skip", "dislike", "angry", "sad")

#: Signals that count as a positive user response by default: the rest of the default
#: feedback vocabulary (offline_rl.schema.DEFAULT_FEEDBACK_VOCABULARY).
DEFAULT_POSITIVE_SIGNALS: tuple[str, ...] = ("click", "like", "love", "haha", "wow", "comment", "share")

MARTS: tuple[str, ...] = ("ik_training_set", "user_trajectories")


@dataclass(frozen=True, kw_only=True)
class PrepareConfig(Config):
    """Parameters of the SQL jobs (:mod:`offline_rl.config`: validated on construction)."""

    max_weight: float | None = None
    """Clip the importance weight 1/(K·P(a|x)) at this value; None keeps it unclipped."""

    session_gap_seconds: float = 1800.0
    """A user's gap between two decisions longer than this (seconds) starts a new session."""

    history_length: int = 10
    """Number of earlier steps of the session kept in a trajectory state (at least 1)."""

    negative_signals: tuple[str, ...] = DEFAULT_NEGATIVE_SIGNALS
    """Feedback signals mapped to response 0 (negative) in trajectories."""

    positive_signals: tuple[str, ...] = DEFAULT_POSITIVE_SIGNALS
    """Feedback signals mapped to response 1 (positive) in trajectories. A logged signal in
    neither list stops the user_trajectories job with an error naming it."""

    CONSTRAINTS = {
        "max_weight": Optional(Real(0.0, low_open=True)),
        "session_gap_seconds": Real(0.0, low_open=True),
        "history_length": Integer(1),
        "negative_signals": Strings(),
        "positive_signals": Strings(),
    }

    RULES = (
        Rule("positive_signals", "disjoint from negative_signals (a signal has one response)",
             lambda c: not set(c.positive_signals) & set(c.negative_signals)),
    )

    def sql_params(self) -> dict[str, object]:
        """The ``$name`` parameters of the marts."""
        return {
            "max_weight": self.max_weight,
            "session_gap_seconds": self.session_gap_seconds,
            "history_length": self.history_length,
        }


@dataclass(frozen=True, kw_only=True)
class PrepareResult:
    """Where ``prepare`` wrote each mart and how many rows it holds."""

    outputs: dict[str, Path]
    rows: dict[str, int]
    input_rows: int


def signal_responses(
    vocabulary: Sequence[str],
    negative_signals: Sequence[str],
    positive_signals: Sequence[str] = DEFAULT_POSITIVE_SIGNALS,
) -> pl.DataFrame:
    """The ``signal_responses`` table: each declared signal -> 1 positive / 0 negative.

    Every signal of ``vocabulary`` (the signals the logs hold) must be declared in one of the
    two lists: one that is in neither is an error naming it, never a silent positive (a
    renamed ``skip`` would otherwise turn every skipped step into engagement).
    """
    negatives, positives = set(negative_signals), set(positive_signals)
    unknown = [name for name in dict.fromkeys(vocabulary) if name not in negatives | positives]
    if unknown:
        raise ValueError(
            f"column 'feedback': signal(s) {unknown} are in neither positive_signals "
            f"{sorted(positives)} nor negative_signals {sorted(negatives)}; the user_trajectories "
            "job maps each signal to a response (1 / 0). Declare each one "
            "(--positive-signals / --negative-signals, or PrepareConfig)."
        )
    names = list(dict.fromkeys([*vocabulary, *negative_signals, *positive_signals]))
    return pl.DataFrame(
        {"feedback": names, "response": [0 if name in negatives else 1 for name in names]},
        schema={"feedback": pl.String, "response": pl.Int64},
    )


@dataclass(frozen=True)
class _ValidatedLogs:
    """Validated logs as the SQL runner takes them: Parquet paths (streamed by DuckDB) or a
    frame in canonical types; with the signals seen and the row count."""

    table: list[Path] | pl.DataFrame
    signals: list[str]
    rows: int


def _validated(logs: Source | pl.DataFrame, vocabulary: Sequence[str] | None) -> _ValidatedLogs:
    """Validate ``logs`` once, in bounded memory for Parquet files."""
    if isinstance(logs, pl.DataFrame):
        frame = validate_log_frame(logs, vocabulary=vocabulary)
    else:
        paths = resolve_sources(logs)
        if all(path.name.lower().endswith(".parquet") for path in paths):
            # Validated batch by batch here; DuckDB then streams the files (bounded memory).
            summary = validate_logs(paths, vocabulary=vocabulary)
            return _ValidatedLogs(paths, sorted(summary.signals), summary.rows)
        frame = load_logs(paths, vocabulary=vocabulary)
    return _ValidatedLogs(frame, frame["feedback"].unique().sort().to_list(), frame.height)


def _views(logs: _ValidatedLogs, config: PrepareConfig) -> dict[str, object]:
    """The logical tables the marts read: the logs and the signal -> response map."""
    return {"logs": logs.table,
            "signal_responses": signal_responses(logs.signals, config.negative_signals, config.positive_signals)}


def prepare(
    logs: Source | pl.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    config: PrepareConfig | None = None,
    vocabulary: Sequence[str] | None = None,
    marts: Sequence[str] = MARTS,
    engine: str | SqlEngine = "duckdb",
) -> PrepareResult:
    """Validate ``logs`` and write ``<mart>.parquet`` into ``out_dir`` for each of ``marts``.

    ``engine`` runs the SQL jobs: ``"duckdb"`` (in this process), ``"spark"`` (``local[2]``)
    or an engine from :func:`offline_rl.data.engines.sql_engine` (e.g. another Spark master).

    Parquet inputs are validated batch by batch and then streamed by DuckDB, so memory stays
    bounded however many events there are; CSV inputs and in-memory frames are read whole.
    An in-memory frame's feedback is checked against ``vocabulary`` only when one is given.
    Nothing is written when validation fails.
    """
    config = config or PrepareConfig()
    validated = _validated(logs, vocabulary)
    # Only user_trajectories maps signals to responses (and refuses undeclared ones).
    views = _views(validated, config) if "user_trajectories" in marts else {"logs": validated.table}
    out = Path(out_dir)
    outputs: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for mart in marts:
        path = out / f"{mart}.parquet"
        rows[mart] = write_sql_job(mart, views, path, config.sql_params(), engine=engine)
        outputs[mart] = path
    return PrepareResult(outputs=outputs, rows=rows, input_rows=validated.rows)


def ik_training_set(
    logs: Source | pl.DataFrame,
    *,
    max_weight: float | None = None,
    vocabulary: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The ``ik_training_set`` mart in memory, for logs validated here (a frame or files)."""
    config = PrepareConfig(max_weight=max_weight)
    table = run_sql_job("ik_training_set", {"logs": _validated(logs, vocabulary).table}, config.sql_params())
    return pl.from_arrow(table)


def user_trajectories(
    logs: Source | pl.DataFrame,
    *,
    config: PrepareConfig | None = None,
    vocabulary: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The ``user_trajectories`` mart in memory, for logs validated here (a frame or files)."""
    config = config or PrepareConfig()
    views = _views(_validated(logs, vocabulary), config)
    return pl.from_arrow(run_sql_job("user_trajectories", views, config.sql_params()))

"""The temporal hold-out of a nightly run: fit on events before a cut, evaluate at or after it.

A run that scores its candidate policy on the rows it trained on reports an in-sample lift
(issue #12). The nightly therefore cuts its window in time once, after the SQL jobs:

* with two or more daily partitions in the window, the cut is midnight (UTC) of the first of
  the window's last ``holdout_days`` days: the run trains on the days before and evaluates on
  the last day(s), the way next night's traffic is new data;
* with a single day (or logs that are not partitioned by date), or when the window holds no
  more days than ``holdout_days``, the cut is the timestamp of the first event of the latest
  ``holdout_fraction`` of events by time.

Training events are ``ts < cut``; evaluation events are ``ts >= cut``, so events that share
the cut's timestamp are all evaluated. IGL-P fits on the training rows of
``ik_training_set`` (one row per decision, nothing shared between rows) and QR-IQL on
:func:`training_trajectories`, the trajectory steps of the training events with every
session cut at the split, which is exactly what the ``user_trajectories`` SQL job gives on
the training events alone (a test checks it): no feature of an evaluation event reaches a fit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from offline_rl.config import Config, Integer, Real


@dataclass(frozen=True, kw_only=True)
class HoldoutConfig(Config):
    """Which events of a run's window are held out for evaluation (see the module docstring)."""

    holdout_days: int = 1
    """With two or more daily partitions in the window (and more than this many): how many of
    its last days are held out; the run fits on the days before them."""

    holdout_fraction: float = 0.2
    """With a single day, unpartitioned logs, or a window of no more than ``holdout_days``
    days: the share of the latest events (by time) held out."""

    CONSTRAINTS = {
        "holdout_days": Integer(1),
        "holdout_fraction": Real(0.0, 1.0, low_open=True, high_open=True),
    }


@dataclass(frozen=True, kw_only=True)
class TemporalSplit:
    """Where a run's window was cut and how many events fell on each side."""

    cut: dt.datetime
    """First instant of the evaluation period (UTC); evaluation events have ``ts >= cut``."""

    train_events: int
    evaluation_events: int

    train_until: dt.datetime
    """Timestamp of the latest training event."""

    rule: str
    """The rule that chose the cut, in words."""

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``split``: counts, ISO timestamps and the rule."""
        return {
            "train_events": self.train_events,
            "evaluation_events": self.evaluation_events,
            "train_until": _iso(self.train_until),
            "evaluate_from": _iso(self.cut),
            "rule": self.rule,
        }

    def describe(self) -> str:
        """One line for the summary and the report."""
        return (
            f"fitted on {self.train_events:,} events up to {_iso(self.train_until)}; "
            f"evaluated on the {self.evaluation_events:,} events from {_iso(self.cut)} on ({self.rule})"
        )


def temporal_split(ts: pl.Series, dates: tuple[str, ...], config: HoldoutConfig) -> TemporalSplit:
    """Cut the window whose event timestamps are ``ts`` and whose daily partitions are ``dates``.

    Parameters
    ----------
    ts
        Every event's timestamp (naive values are UTC, as in the log schema).
    dates
        The window's daily partitions (``YYYY-MM-DD``, sorted), empty for unpartitioned logs.
    config
        The hold-out settings.

    Raises
    ------
    ValueError
        When either side of the cut would be empty (or the training side would hold fewer
        than the 2 events a fit needs): the window is too small to hold anything out.
    """
    stamps = _utc(ts).drop_nulls().sort()
    n = stamps.len()
    if n == 0:
        raise ValueError("the run's window holds no events to split into training and evaluation")
    if len(dates) > config.holdout_days:
        first = dates[-config.holdout_days]
        cut = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC)
        days = "day" if config.holdout_days == 1 else f"{config.holdout_days} days"
        rule = f"the window's last {days} of {len(dates)}, from {first}"
    else:
        held_out = max(1, math.ceil(config.holdout_fraction * n))
        cut = stamps[n - held_out]
        rule = f"the latest {config.holdout_fraction:.0%} of the window's events by time"
    train = stamps.filter(stamps < cut)
    evaluation = n - train.len()
    if train.len() < 2 or evaluation == 0:
        raise ValueError(
            f"cannot hold out {rule}: it leaves {train.len()} event(s) to fit on and {evaluation} to "
            f"evaluate on (cut at {_iso(cut)}; events from {_iso(stamps[0])} to {_iso(stamps[-1])}); "
            "a run needs at least 2 training events and 1 evaluation event"
        )
    return TemporalSplit(cut=cut, train_events=train.len(), evaluation_events=evaluation,
                         train_until=train[-1], rule=rule)


def is_evaluation(cut: dt.datetime) -> pl.Expr:
    """``ts >= cut``: the evaluation events of a prepared mart (whose ``ts`` is UTC)."""
    return pl.col("ts") >= pl.lit(cut, dtype=pl.Datetime("us", "UTC"))


def training_trajectories(trajectories: pl.DataFrame, cut: dt.datetime) -> pl.DataFrame:
    """The ``user_trajectories`` steps of the training events, every session cut at ``cut``.

    Steps at or after the cut are dropped; a kept step whose next step is an evaluation event
    becomes its session's last (``done``, no ``next_item`` or ``next_event_id``). The states'
    histories only look back, so nothing else refers to an evaluation event: the result equals
    the SQL job run on the training events alone.
    """
    evaluation_ids = trajectories.filter(is_evaluation(cut))["event_id"]
    crosses = pl.col("next_event_id").is_in(evaluation_ids.implode())
    return trajectories.filter(~is_evaluation(cut)).with_columns(
        pl.when(crosses).then(None).otherwise(pl.col("next_event_id")).alias("next_event_id"),
        pl.when(crosses).then(None).otherwise(pl.col("next_item")).alias("next_item"),
        (pl.col("done") | crosses).alias("done"),
    )


def _utc(ts: pl.Series) -> pl.Series:
    if ts.dtype == pl.Datetime and getattr(ts.dtype, "time_zone", None) is None:
        return ts.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    return ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()

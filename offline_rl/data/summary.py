"""Counts of validated logs: rows, users, actions, signals (what ``offline-rl validate`` prints).

Counted in memory for a frame (:func:`summarize_logs`, :class:`LogCounter`), or on a SQL
engine by :func:`offline_rl.data.loading.validate_logs`, which builds the same
:class:`LogSummary` from the engine's counts (:meth:`LogSummary.of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

_SIGNALS_SHOWN = 8


@dataclass(frozen=True, kw_only=True)
class LogSummary:
    """Counts of validated logs; ``line()`` is what ``offline-rl validate`` prints.

    ``signals`` is ordered by count (descending), then by name.
    """

    rows: int
    users: int
    actions: int
    signals: dict[str, int]
    files: int

    @classmethod
    def of(cls, *, rows: int, users: int, actions: int, signals: dict[str, int], files: int) -> LogSummary:
        """The summary of these counts, ``signals`` put in the summary's order."""
        ordered = dict(sorted(signals.items(), key=lambda item: (-item[1], item[0])))
        return cls(rows=rows, users=users, actions=actions, signals=ordered, files=files)

    def line(self) -> str:
        shown = list(self.signals.items())[:_SIGNALS_SHOWN]
        signals = ", ".join(f"{name} {count}" for name, count in shown)
        if len(self.signals) > _SIGNALS_SHOWN:
            signals += f", ... {len(self.signals) - _SIGNALS_SHOWN} more"
        return (
            f"valid: {self.rows} rows, {self.users} users, {self.actions} actions, "
            f"{len(self.signals)} signals ({signals}) in {self.files} file(s)"
        )


@dataclass
class LogCounter:
    """Accumulates the counts of :class:`LogSummary` over batches of canonical logs.

    Holds the distinct users and actions seen so far (not every row).
    """

    rows: int = 0
    users: pl.Series | None = None
    actions: pl.Series | None = None
    signals: dict[str, int] = field(default_factory=dict)

    def add(self, logs: pl.DataFrame) -> LogCounter:
        self.rows += logs.height
        self.users = _distinct(self.users, logs["user_id"])
        self.actions = _distinct(self.actions, logs["candidate_actions"].explode())
        for name, count in logs.group_by("feedback").len().iter_rows():
            self.signals[name] = self.signals.get(name, 0) + count
        return self

    def summary(self, *, files: int) -> LogSummary:
        return LogSummary.of(
            rows=self.rows,
            users=0 if self.users is None else self.users.len(),
            actions=0 if self.actions is None else self.actions.len(),
            signals=self.signals,
            files=files,
        )


def _distinct(seen: pl.Series | None, values: pl.Series) -> pl.Series:
    values = values.unique()
    return values if seen is None else pl.concat([seen, values]).unique()


def summarize_logs(logs: pl.DataFrame, *, files: int = 1) -> LogSummary:
    """Counts that ``offline-rl validate`` prints, for canonical logs held in memory."""
    return LogCounter().add(logs).summary(files=files)

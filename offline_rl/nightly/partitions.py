"""Pick the log files a nightly run reads: daily Hive partitions ``date=YYYY-MM-DD``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from offline_rl.data.loading import resolve_sources
from offline_rl.errors import SchemaError

_PARTITION = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")


@dataclass(frozen=True, kw_only=True)
class Partition:
    """The run's label and the files it reads."""

    date: str
    files: tuple[Path, ...]
    available_dates: tuple[str, ...]
    window_dates: tuple[str, ...] = ()
    """The daily partitions the run reads (empty for unpartitioned logs)."""


def select_partition(logs: str, date: str, *, window_days: int = 1) -> Partition:
    """Files of partition ``date`` (or the newest, for ``latest``) and the ``window_days - 1``
    partitions before it.

    Logs that are not partitioned by date are read whole; then ``date`` must be given
    (``latest`` has no meaning without partitions) and only labels the run.
    """
    files = resolve_sources(logs)
    by_date: dict[str, list[Path]] = {}
    for path in files:
        match = _PARTITION.search(path.as_posix())
        if match:
            by_date.setdefault(match.group(1), []).append(path)
    if not by_date:
        if date == "latest":
            raise ValueError(
                f"{logs} is not partitioned by date (no date=YYYY-MM-DD folders); give --date to label the run"
            )
        return Partition(date=date, files=tuple(files), available_dates=())
    unpartitioned = [path for path in files if not _PARTITION.search(path.as_posix())]
    if unpartitioned:
        raise SchemaError(
            f"{unpartitioned[0]}: a file outside any date=YYYY-MM-DD partition of {logs}; "
            "expected every log file inside a daily partition"
        )
    dates = sorted(by_date)
    chosen = dates[-1] if date == "latest" else date
    if chosen not in by_date:
        raise ValueError(f"no partition date={chosen} in {logs}; available: {dates}")
    window = [day for day in dates if day <= chosen][-window_days:]
    selected = tuple(path for day in window for path in sorted(by_date[day]))
    return Partition(date=chosen, files=selected, available_dates=tuple(dates), window_dates=tuple(window))

"""The SQL that checks a canonical table on an engine, generated from its one declaration.

Every query here is one SELECT over the logical view ``logs``: a
:class:`~offline_rl.data.engines.NumberedParquet` (or a frame) whose rows carry their file's
position (:data:`~offline_rl.data.engines.SOURCE_INDEX`) and their row within it
(:data:`~offline_rl.data.engines.SOURCE_ROW`). The rules are the ``broken`` expressions of
:mod:`offline_rl.schema`; nothing about a rule is written here. Each query passes
:func:`~offline_rl.data.sql_portability.check_portable`, so it runs as written on DuckDB and
transpiled on Spark.

==========================  ================================================================
query                       what it returns
==========================  ================================================================
:func:`violations_query`    one row: the row count, and per rule the number of rows that
                            break it and the position of the first (one pass over the rows)
:func:`repeats_query`       one row: how many rows repeat an ``event_id`` seen before
:func:`first_repeat_query`  one row: the position of the first such row (a window over
                            ``event_id``; run only when there is one)
:func:`row_query`           the columns of the row at one position (to show its value)
:func:`signals_query`       rows per feedback signal
:func:`distinct_query`      distinct users and distinct actions
==========================  ================================================================

A position is ``file index * 2**40 + row``: the order of files as given, then rows, in one
BIGINT that both engines compare alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from offline_rl.data.engines import SOURCE_INDEX, SOURCE_ROW
from offline_rl.data.sql_portability import check_portable
from offline_rl.schema import RowRule

#: Rows per file a position can number (2**40); files beyond it would collide.
ROWS_PER_FILE = 1 << 40

POSITION = "__position"

_NUMBERED = f"SELECT *, {SOURCE_INDEX} * {ROWS_PER_FILE} + {SOURCE_ROW} AS {POSITION} FROM logs"


def violations_query(rules: Sequence[RowRule]) -> str:
    """Count every rule's breaking rows and find the first, in one pass.

    Columns: ``rows``, ``unnumbered`` (rows the engine could not place in a file: a bug, never
    expected), then ``broken_<i>`` and ``first_<i>`` for ``rules[i]``. A rule whose expression
    is NULL on a row counts the row as broken.
    """
    return _checked(_violations_query(tuple(rules)))


@cache
def _violations_query(rules: tuple[RowRule, ...]) -> str:
    columns = ["COUNT(*) AS rows", f"COUNT(*) FILTER (WHERE {SOURCE_INDEX} IS NULL) AS unnumbered"]
    for index, rule in enumerate(rules):
        broken = f"COALESCE(({rule.broken}), TRUE)"
        columns.append(f"COUNT(*) FILTER (WHERE {broken}) AS broken_{index}")
        columns.append(f"MIN({POSITION}) FILTER (WHERE {broken}) AS first_{index}")
    listed = ",\n    ".join(columns)
    return f"SELECT\n    {listed}\nFROM ({_NUMBERED}) AS numbered"


def repeats_query() -> str:
    """``repeats``: rows whose ``event_id`` appeared earlier (nulls excluded)."""
    return _checked("SELECT COUNT(event_id) - COUNT(DISTINCT event_id) AS repeats FROM logs")


def first_repeat_query() -> str:
    """``first``: the position of the first row whose ``event_id`` appeared before it."""
    return _checked(
        f"SELECT MIN({POSITION}) AS first FROM (\n"
        f"    SELECT {POSITION}, MIN({POSITION}) OVER (PARTITION BY event_id) AS first_seen\n"
        f"    FROM ({_NUMBERED}) AS numbered\n"
        f"    WHERE event_id IS NOT NULL\n"
        f") AS seen WHERE {POSITION} > first_seen"
    )


def row_query() -> str:
    """Every column of the row at ``$source_index``, ``$source_row``."""
    return _checked(f"SELECT * FROM logs WHERE {SOURCE_INDEX} = $source_index AND {SOURCE_ROW} = $source_row")


def signals_query() -> str:
    """``feedback``, ``events``: rows per signal."""
    return _checked("SELECT feedback, COUNT(*) AS events FROM logs GROUP BY feedback")


def distinct_query() -> str:
    """``users``, ``actions``: distinct ``user_id`` and distinct candidate actions."""
    return _checked(
        "SELECT\n"
        "    (SELECT COUNT(DISTINCT user_id) FROM logs) AS users,\n"
        "    (SELECT COUNT(DISTINCT action) FROM (SELECT unnest(candidate_actions) AS action FROM logs) AS offered)"
        " AS actions"
    )


@cache
def _checked(query: str) -> str:
    check_portable(query, source="generated validation query")
    return query

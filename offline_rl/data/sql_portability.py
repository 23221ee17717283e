"""The lint that keeps ``sql/`` portable: refuse constructs that DuckDB and Spark SQL disagree on.

The SQL jobs are written in DuckDB's dialect and transpiled to Spark SQL by sqlglot at run
time (:mod:`offline_rl.data.engines.spark_engine`). Transpiling is not enough: some
constructs transpile into Spark SQL that runs and returns something else. Each rule below
was measured (sqlglot 30, DuckDB 2, Spark 4.3, ``local[2]``) and says what breaks and what to
write instead. The runner (:func:`offline_rl.data.sql_jobs.compose_query`) calls
:func:`check_portable` on every model before it executes anything, on either engine, so a
model that would only work on DuckDB is refused on DuckDB too; ``tests/sql`` runs it over
every file in ``sql/``.

======================================  =================================================
refused                                 why, and what to write instead
======================================  =================================================
``EPOCH``, ``epoch_ms/us/ns``,          DuckDB's ``EPOCH(ts)`` keeps the fraction of a
``EXTRACT(EPOCH ...)``                  second; sqlglot writes Spark's whole-second
                                        ``UNIX_TIMESTAMP`` (a 1800.5 s gap became 1800 s).
                                        ``epoch_ms(ts)`` becomes ``TIMESTAMP_MILLIS`` (the
                                        inverse function). Use
                                        ``date_diff('microsecond', earlier, later)``.
a decimal literal (``1.0``) in an       Both engines type ``1.0`` as DECIMAL, but Spark keeps
aggregate or in arithmetic              DECIMAL through ``AVG``/``SUM`` and ``/`` (``AVG`` of
                                        ``1.0``/``0.0`` gave DECIMAL(6,5), ``0.33333``) where
                                        DuckDB returns DOUBLE. Use integers
                                        (``AVG(CASE ... THEN 1 ELSE 0 END)`` is DOUBLE on both)
                                        or ``CAST(1 AS DOUBLE)``.
``array_position(xs, x)`` not written   A missing element gives NULL on DuckDB and 0 on Spark.
as ``NULLIF(array_position(xs, x), 0)``
``SUM(...)`` outside a ``CAST``         DuckDB's SUM of integers is HUGEINT (INT128), Spark's
                                        is BIGINT: cast the result.
an ordered aggregate                    ``LIST(x ORDER BY k)`` becomes ``COLLECT_LIST(x)``,
(``LIST(x ORDER BY k)``)                whose order Spark does not promise. Use
                                        ``LIST_SORT(LIST({'k': k, 'x': x}))``.
``hash()``                              Different hash functions: different values. Split
                                        with ``md5(id) < '8'``.
``quantile_cont``/``quantile_disc``/    Transpile to Spark functions with another signature or
``quantile``/``percentile_cont``        interpolation (or to ``PERCENTILE_APPROX``).
``len(list)``                           Becomes Spark's ``LENGTH``, a string length. Use
                                        ``array_length(list)``.
``list_sum``, ``list_slice``,           Reach Spark untranslated (no such functions there).
``array_slice``, slicing ``xs[1:2]``
lambdas (``x -> e``, ``lambda x: e``),  DuckDB 2 wants ``lambda x: e`` and reads ``->`` as a
any ``->``                              JSON path; Spark wants ``x -> e``.
a function sqlglot does not know        It reaches Spark as written, untranslated and
                                        unchecked; add it to :data:`SAME_ON_BOTH_ENGINES`
                                        only with a test that runs it on both engines.
anything but one SELECT; table          A model is one SELECT over logical table names that
functions (``read_parquet``)            the runner registers; the engine does the I/O.
======================================  =================================================

What is portable (also measured): QUALIFY, ``$name`` parameters (``:name`` on Spark; window
frames bound by a parameter need Spark >= 4), struct literals, ``GROUP BY ALL``, ``list_sort``,
``unnest``, ``arg_max``, ``* EXCLUDE``, ``FILTER (WHERE ...)``, ``LIST(x) OVER (... ORDER BY
...)`` over a ROWS frame, ``array_length``, ``date_diff('microsecond', a, b)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

_EPOCH = (
    "DuckDB's epoch functions keep fractions of a second where sqlglot's Spark translation "
    "does not (EPOCH -> whole-second UNIX_TIMESTAMP; epoch_ms -> TIMESTAMP_MILLIS, the inverse "
    "function; epoch_us/epoch_ns untranslated); measure a time gap with "
    "date_diff('microsecond', earlier, later)"
)
_QUANTILE = (
    "quantiles transpile to Spark functions with another signature or interpolation "
    "(quantile_cont -> PERCENTILE_CONT(x, q), WITHIN GROUP -> PERCENTILE_APPROX)"
)
_UNTRANSLATED = "sqlglot passes it to Spark untranslated, and Spark has no such function"

#: Functions refused by name, whatever sqlglot makes of them: name -> why.
REFUSED_FUNCTIONS: dict[str, str] = {
    "epoch": _EPOCH,
    "epoch_ms": _EPOCH,
    "epoch_us": _EPOCH,
    "epoch_ns": _EPOCH,
    "hash": "hash() differs between DuckDB and Spark (other hash functions, other values); "
    "split with md5(id) < '8'",
    "quantile_cont": _QUANTILE,
    "quantile_disc": _QUANTILE,
    "quantile": _QUANTILE,
    "percentile_cont": _QUANTILE,
    "percentile_disc": _QUANTILE,
    "len": "len(list) becomes Spark's LENGTH, a string length; use array_length(list)",
    "list_sum": _UNTRANSLATED,
    "list_slice": _UNTRANSLATED + "; slicing is refused too",
    "array_slice": _UNTRANSLATED + "; slicing is refused too",
}

#: Functions sqlglot does not model but that were measured to give the same results on both
#: engines. Empty: add a name only together with a test that runs it on DuckDB and on Spark.
SAME_ON_BOTH_ENGINES: frozenset[str] = frozenset()

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv)
_FLOAT_TYPES = (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)


class NonPortableSqlError(ValueError):
    """A SQL job uses a construct that gives different results on DuckDB and on Spark."""


@dataclass(frozen=True)
class PortabilityIssue:
    """One refused construct: where it is, what it is, and why it is refused."""

    source: str
    line: int | None
    construct: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source} line {self.line}" if self.line is not None else self.source
        return f"{where}: {self.construct}: {self.reason}"


def portability_issues(sql: str, *, source: str = "query") -> list[PortabilityIssue]:
    """Every construct of ``sql`` (DuckDB dialect, comments allowed) that is not portable.

    Parameters
    ----------
    sql
        One SQL model: a single SELECT, in DuckDB's dialect, over logical table names.
    source
        How the messages name the SQL (a file path for a model).
    """
    issues = list(_token_issues(sql, source))
    try:
        statements = [statement for statement in sqlglot.parse(sql, read="duckdb") if statement is not None]
    except ParseError as error:
        return [*issues, PortabilityIssue(source, None, "unparsable SQL", str(error).splitlines()[0])]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        kinds = ", ".join(type(statement).__name__.upper() for statement in statements) or "nothing"
        issues.append(
            PortabilityIssue(source, None, f"statements: {kinds}", "a SQL job is exactly one SELECT")
        )
    for statement in statements:
        issues.extend(_tree_issues(statement, source))
    # One message per rule and line: a call can trip a rule both by its name and by its tree.
    unique = {(issue.line, issue.reason): issue for issue in reversed(issues)}
    return sorted(unique.values(), key=lambda issue: (issue.line or 0, issue.construct))


def check_portable(sql: str, *, source: str = "query") -> None:
    """Raise :class:`NonPortableSqlError` listing every non-portable construct of ``sql``."""
    issues = portability_issues(sql, source=source)
    if issues:
        lines = "\n".join(f"  {issue}" for issue in issues)
        raise NonPortableSqlError(
            f"{source} is not portable between DuckDB and Spark SQL "
            f"({len(issues)} construct(s) refused, see docs/scale.md):\n{lines}"
        )


def _token_issues(sql: str, source: str) -> Iterator[PortabilityIssue]:
    """Refusals read off the tokens: function names as written, and ``->``."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except Exception:  # noqa: BLE001 - the parser reports unreadable SQL
        return
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        name = token.text.lower()
        if following is not None and following.token_type == TokenType.L_PAREN and name in REFUSED_FUNCTIONS:
            if token.token_type not in (TokenType.STRING, TokenType.IDENTIFIER):
                yield PortabilityIssue(source, token.line, f"{name}()", REFUSED_FUNCTIONS[name])
        if token.token_type in (TokenType.ARROW, TokenType.DARROW) or name == "lambda":
            yield PortabilityIssue(
                source, token.line, f"'{token.text}'",
                "lambdas are written 'lambda x: e' on DuckDB 2 and 'x -> e' on Spark, and DuckDB "
                "reads '->' as a JSON path; use list_sort, unnest or a join instead",
            )


def _tree_issues(tree: exp.Expression, source: str) -> Iterator[PortabilityIssue]:
    for node in tree.walk():
        line = _line(node)
        if isinstance(node, exp.Anonymous) and node.name.lower() not in SAME_ON_BOTH_ENGINES:
            if node.name.lower() not in REFUSED_FUNCTIONS:
                yield PortabilityIssue(
                    source, line, f"{node.name}()",
                    "sqlglot does not know this DuckDB function, so it would reach Spark untranslated "
                    "and unchecked; use a function both engines share, or add it to "
                    "SAME_ON_BOTH_ENGINES with a test on both engines",
                )
        elif isinstance(node, exp.Extract) and node.name.lower() == "epoch":
            yield PortabilityIssue(source, line, "EXTRACT(EPOCH ...)", _EPOCH)
        elif isinstance(node, exp.TimeToUnix | exp.UnixToTime):
            yield PortabilityIssue(source, line, "EPOCH()", _EPOCH)
        elif isinstance(node, exp.PercentileCont | exp.PercentileDisc | exp.Quantile | exp.WithinGroup):
            yield PortabilityIssue(source, line, "quantile", _QUANTILE)
        elif isinstance(node, exp.Slice):
            yield PortabilityIssue(
                source, line, "slice xs[a:b]", "slicing transpiles to Spark's xs[a:b], which Spark cannot parse"
            )
        elif isinstance(node, exp.Lambda):
            yield PortabilityIssue(
                source, line, "lambda", "lambdas are written differently on DuckDB 2 and Spark"
            )
        elif isinstance(node, exp.Order) and isinstance(node.parent, exp.Func):
            yield PortabilityIssue(
                source, line, f"ordered aggregate {node.parent.sql(dialect='duckdb')}",
                "Spark drops the ORDER BY (LIST(x ORDER BY k) becomes COLLECT_LIST(x), in no "
                "promised order); use LIST_SORT(LIST({'k': k, 'x': x}))",
            )
        elif isinstance(node, exp.ArrayPosition) and not _zero_safe(node):
            yield PortabilityIssue(
                source, line, node.sql(dialect="duckdb"),
                "array_position of a missing element is NULL on DuckDB and 0 on Spark; write "
                "NULLIF(array_position(xs, x), 0)",
            )
        elif isinstance(node, exp.Sum) and not any(isinstance(up, exp.Cast) for up in _ancestors(node)):
            yield PortabilityIssue(
                source, line, node.sql(dialect="duckdb"),
                "DuckDB's SUM of integers is HUGEINT and Spark's is BIGINT; cast the result "
                "(CAST(SUM(x) AS BIGINT), or AS DOUBLE)",
            )
        elif isinstance(node, (exp.ReadParquet, exp.ReadCSV)) or (
            isinstance(node, exp.Table) and isinstance(node.this, exp.Func)
        ):
            yield PortabilityIssue(
                source, line, node.sql(dialect="duckdb"),
                "a SQL job reads logical table names that the runner registers, never files",
            )
        elif _is_decimal_literal(node) and _decimal_breaks(node):
            yield PortabilityIssue(
                source, line, f"decimal literal {node.this}",
                "Spark keeps a DECIMAL literal DECIMAL through AVG, SUM and arithmetic (AVG of "
                "1.0/0.0 gave DECIMAL(6,5), 0.33333) where DuckDB returns DOUBLE; use an integer "
                "or CAST(1 AS DOUBLE)",
            )


def _ancestors(node: exp.Expression) -> Iterator[exp.Expression]:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Query):
        yield parent
        parent = parent.parent


def _zero_safe(node: exp.ArrayPosition) -> bool:
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    zero = parent.expression if isinstance(parent, exp.Nullif) else None
    return isinstance(zero, exp.Literal) and not zero.is_string and zero.this == "0"


def _is_decimal_literal(node: exp.Expression) -> bool:
    return (
        isinstance(node, exp.Literal)
        and not node.is_string
        and "." in node.this
        and "e" not in node.this.lower()
    )


def _decimal_breaks(literal: exp.Literal) -> bool:
    """A decimal literal is refused inside an aggregate or as an operand of arithmetic,
    unless it is cast to a floating type on the spot."""
    parent = literal.parent
    while isinstance(parent, exp.Paren | exp.Neg):
        parent = parent.parent
    if isinstance(parent, exp.Cast) and parent.to.is_type(*_FLOAT_TYPES):
        return False
    return isinstance(parent, _ARITHMETIC) or any(isinstance(up, exp.AggFunc) for up in _ancestors(literal))


def _line(node: exp.Expression) -> int | None:
    for candidate in node.walk():
        if "line" in candidate.meta:
            return int(candidate.meta["line"])
    return None

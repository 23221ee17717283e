"""The Spark engine: the same SQL jobs on any Spark master, transpiled by sqlglot at run time.

The runner hands over a composed SELECT in DuckDB's dialect (dependencies inlined as CTEs,
already linted by :mod:`offline_rl.data.sql_portability`); this engine transpiles it to
Spark SQL (``$name`` parameters become ``:name`` markers, bound by Spark, never pasted in),
registers the views as temporary views of a session of its own, and runs it.

Settings every job runs under, whatever the cluster's defaults (:data:`SESSION_CONF`): UTC
session time zone (naive timestamps are UTC in the toolkit, as on DuckDB), ``TIMESTAMP`` meaning
an instant (``TIMESTAMP_LTZ``), Parquet timestamps written as INT64 microseconds (Spark writes
the legacy INT96 otherwise), ANSI SQL (errors instead of silent NULLs, as on DuckDB), and
``size(NULL)`` returning NULL (not -1). Each job gets ``newSession()``: its own temporary views
and SQL settings over the shared SparkContext, so nothing leaks into a session the caller owns.

Output layout is DuckDB's: one Parquet file at ``out_path``. Spark writes the sorted result
through one final task (``coalesce(1)`` keeps the ORDER BY, unlike ``repartition``) into a
hidden temporary folder beside ``out_path``; the part file is then renamed onto ``out_path``
(``os.replace`` on a local file system, atomic; delete + rename through Hadoop's FileSystem
elsewhere, so a reader sees the old file, no file, or the whole new one, never part of one)
and the folder is removed, also on failure.

Paths are Spark's: a path without a scheme resolves against the cluster's default file system
(the local disk for ``local[n]``); on a cluster, pass inputs and outputs that every executor
and the driver can reach (``hdfs://``, ``s3a://``, a shared mount). Spark Connect (``sc://``)
is not supported: the atomic rename needs the driver's JVM.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import polars as pl
import pyarrow as pa
import sqlglot

from offline_rl.data.engines import SOURCE_INDEX, SOURCE_ROW, NumberedParquet

logger = logging.getLogger(__name__)

#: The master a Spark engine uses when none is given: two local worker threads.
DEFAULT_MASTER = "local[2]"

#: SQL settings of every job's session; see the module docstring for why each.
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.legacy.sizeOfNull": "false",
}

#: Oldest Spark that runs the jobs: window frames bound by a parameter
#: (``ROWS BETWEEN :history_length PRECEDING``) need Spark 4.
MINIMUM_SPARK_VERSION = (4, 0)


#: DuckDB list functions that Spark spells otherwise or treats differently, and what this
#: engine writes for them (each run on both engines by tests/sql/test_spark_rewrites.py):
#: name -> (Spark form, why).
SPARK_REWRITES: dict[str, tuple[str, str]] = {
    "list_sum": (
        "CASE WHEN SIZE(ARRAY_COMPACT(xs)) = 0 THEN NULL "
        "ELSE AGGREGATE(xs, CAST(0 AS DOUBLE), (acc, x) -> acc + COALESCE(x, 0)) END",
        "Spark has no list_sum; DuckDB skips NULL elements, and the sum of none is NULL",
    ),
    "list_count": ("SIZE(ARRAY_COMPACT(xs))", "Spark has no list_count (DuckDB: the non-NULL elements)"),
    "list_element": (
        "TRY_ELEMENT_AT(xs, CAST(i AS INT))",
        "Spark has no list_element; both are 1-based and NULL out of range (plain ELEMENT_AT "
        "raises in ANSI mode, and Spark takes an INT index only)",
    ),
    "list_distinct": (
        "ARRAY_DISTINCT(ARRAY_COMPACT(xs))",
        "DuckDB's list_distinct drops NULL elements, Spark's array_distinct keeps one",
    ),
}


@cache
def to_spark_sql(query: str) -> str:
    """``query`` (DuckDB dialect) in Spark SQL, with ``$name`` parameters as ``:name`` markers
    and the functions of :data:`SPARK_REWRITES` rewritten."""
    tree = sqlglot.parse_one(query, read="duckdb")
    # Innermost first, so that a rewritten call's arguments are already rewritten.
    for node in reversed(list(tree.find_all(sqlglot.exp.ArrayDistinct, sqlglot.exp.Anonymous))):
        rewritten = _rewrite_for_spark(node)
        if rewritten is not node:
            node.replace(rewritten)
    return tree.sql(dialect="spark")


def _rewrite_for_spark(node: sqlglot.exp.Expression) -> sqlglot.exp.Expression:
    exp = sqlglot.exp
    if isinstance(node, exp.ArrayDistinct):
        return exp.ArrayDistinct(this=exp.ArrayCompact(this=node.this))
    if not isinstance(node, exp.Anonymous):
        return node
    name, arguments = node.name.lower(), node.expressions
    if name == "list_sum":
        accumulator, element = exp.to_identifier("__acc"), exp.to_identifier("__x")
        fold = exp.Lambda(
            this=exp.Add(this=accumulator.copy(), expression=exp.func("COALESCE", element.copy(), exp.Literal.number(0))),
            expressions=[accumulator, element],
        )
        total = exp.Anonymous(
            this="AGGREGATE", expressions=[arguments[0].copy(), exp.cast(exp.Literal.number(0), "DOUBLE"), fold]
        )
        # DuckDB's sum of no values (an empty list, only NULLs) is NULL, not 0.
        nothing = exp.EQ(this=exp.ArraySize(this=exp.ArrayCompact(this=arguments[0])), expression=exp.Literal.number(0))
        return exp.Case(ifs=[exp.If(this=nothing, true=exp.Null())], default=total)
    if name == "list_count":
        return exp.ArraySize(this=exp.ArrayCompact(this=arguments[0]))
    if name == "list_element":
        return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[arguments[0], exp.cast(arguments[1], "INT")])
    return node


class SparkEngine:
    """Run SQL jobs on Spark.

    Parameters
    ----------
    master
        Spark master URL: ``local[2]`` (default), ``local[*]``, ``spark://host:7077``, ``yarn``,
        ``k8s://https://host:443``... Ignored when ``session`` is given.
    conf
        Extra Spark settings for a session this engine builds (``spark.executor.memory``,
        ``spark.sql.shuffle.partitions``...); ``spark.sql.*`` ones also apply to a given session's
        jobs. They cannot override :data:`SESSION_CONF`.
    session
        An existing classic ``SparkSession`` to run on (a notebook's, a cluster job's); jobs run in
        ``session.newSession()`` so its own settings and views are left untouched.
    """

    name = "spark"

    def __init__(
        self,
        master: str = DEFAULT_MASTER,
        *,
        conf: Mapping[str, str] | None = None,
        session: Any = None,
    ) -> None:
        if not isinstance(master, str) or not master.strip():
            raise ValueError(f"the Spark master URL must be a non-empty string; got {master!r}")
        if master.startswith("sc://"):
            raise ValueError(
                f"Spark Connect masters ({master!r}) are not supported: the atomic rename of the "
                "output needs the driver's JVM; use a classic master URL (local[n], spark://, yarn, k8s://)"
            )
        conf = dict(conf or {})
        clashes = sorted(key for key in conf if key in SESSION_CONF and conf[key] != SESSION_CONF[key])
        if clashes:
            raise ValueError(f"the Spark settings {clashes} are fixed by the engine ({SESSION_CONF})")
        self.master = master
        self.conf = conf
        self._session = session
        self._owns_session = False

    def __repr__(self) -> str:
        return f"SparkEngine(master={self.master!r})"

    # ------------------------------------------------------------------------- sessions
    def session(self) -> Any:
        """The SparkSession jobs run on: the given one, or one built (or found) for ``master``."""
        if self._session is None:
            self._session = self._build_session()
        return self._session

    def _build_session(self) -> Any:
        try:
            from pyspark.sql import SparkSession
        except ImportError as error:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "the Spark engine needs pyspark: pip install 'offline-rl[spark]' (and Java 17 or later)"
            ) from error
        active = SparkSession.getActiveSession()
        if active is not None and active.sparkContext.master != self.master:
            raise ValueError(
                f"a SparkSession on master {active.sparkContext.master!r} is already running in this "
                f"process, so a session on {self.master!r} cannot start; pass session= to run on "
                "it, or stop it first"
            )
        builder = SparkSession.builder.master(self.master).appName("offline-rl")
        if self.master.startswith("local"):
            # Python work on local executors (mapInArrow) runs in this interpreter, whose
            # packages it needs (pyspark reads PYSPARK_PYTHON when the context starts, else
            # runs "python3"); a cluster's executors keep their own setting.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for key, value in {"spark.ui.showConsoleProgress": "false", **self.conf, **SESSION_CONF}.items():
            builder = builder.config(key, value)
        self._owns_session = active is None
        session = builder.getOrCreate()
        version = tuple(int(part) for part in session.version.split(".")[:2])
        if version < MINIMUM_SPARK_VERSION:
            raise RuntimeError(
                f"the SQL jobs need Spark >= {'.'.join(map(str, MINIMUM_SPARK_VERSION))} (window frames "
                f"bound by a parameter); this session runs Spark {session.version}"
            )
        logger.info("Spark %s session on %s", session.version, session.sparkContext.master)
        return session

    def _job_session(self) -> Any:
        session = self.session().newSession()
        for key, value in {**{k: v for k, v in self.conf.items() if k.startswith("spark.sql.")}, **SESSION_CONF}.items():
            session.conf.set(key, value)
        return session

    def close(self) -> None:
        """Stop the SparkSession if this engine started it (a given or found one is left running)."""
        if self._session is not None and self._owns_session:
            self._session.stop()
        self._session = None
        self._owns_session = False

    # ----------------------------------------------------------------------------- jobs
    def _session_with(self, views: Mapping[str, object]) -> Any:
        """A job session with ``views`` registered as temporary views."""
        session = self._job_session()
        for name, source in views.items():
            _dataframe(session, source).createOrReplaceTempView(name)
        return session

    def _frame(self, query: str, views: Mapping[str, object], params: Mapping[str, object]) -> Any:
        session = self._session_with(views)
        return session, session.sql(to_spark_sql(query), args=dict(params))

    def run(self, query: str, views: Mapping[str, object], params: Mapping[str, object]) -> pa.Table:
        _, frame = self._frame(query, views, params)
        return frame.toArrow()

    @contextmanager
    def open(self, views: Mapping[str, object]) -> Iterator[_Queries]:
        yield _Queries(self._session_with(views))

    def write(
        self,
        query: str,
        views: Mapping[str, object],
        params: Mapping[str, object],
        out_path: str | os.PathLike[str],
    ) -> int:
        session, frame = self._frame(query, views, params)
        context = session.sparkContext
        hadoop_path = context._jvm.org.apache.hadoop.fs.Path  # noqa: SLF001 - the one JVM entry point
        target = hadoop_path(os.fspath(out_path))
        file_system = target.getFileSystem(context._jsc.hadoopConfiguration())  # noqa: SLF001
        target = file_system.makeQualified(target)
        temporary = hadoop_path(target.getParent(), f".{target.getName()}.{uuid.uuid4().hex}.spark-tmp")
        try:
            frame.coalesce(1).write.mode("error").parquet(temporary.toString())
            parts = [
                status.getPath()
                for status in file_system.listStatus(temporary)
                if status.getPath().getName().startswith("part-")
            ]
            if len(parts) != 1:
                raise RuntimeError(f"Spark wrote {len(parts)} part files for {out_path}, expected one")
            rows = session.read.parquet(parts[0].toString()).count()
            _publish(file_system, parts[0], target)
        finally:
            file_system.delete(temporary, True)
        return int(rows)


class _Queries:
    """Queries in one job session whose temporary views are registered."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, query: str, params: Mapping[str, object]) -> pa.Table:
        return self.session.sql(to_spark_sql(query), args=dict(params)).toArrow()


def _publish(file_system: Any, source: Any, target: Any, *, local: bool | None = None) -> None:
    """Move the finished part file ``source`` onto ``target`` (Hadoop paths on ``file_system``).

    On a local file system ``os.replace`` swaps the file in one atomic step. Elsewhere Hadoop's
    ``rename`` will not overwrite, so an old ``target`` is deleted first: a reader may briefly
    find no file, never a partial one (on HDFS the rename itself is atomic; on object stores it
    is a copy that becomes visible whole).
    """
    if local is None:
        local = file_system.getScheme() == "file"
    if local:
        os.replace(source.toUri().getPath(), target.toUri().getPath())
        return
    if file_system.exists(target) and not file_system.delete(target, False):
        raise OSError(f"could not remove the old {target.toString()} before replacing it")
    if not file_system.rename(source, target):
        raise OSError(f"could not rename {source.toString()} to {target.toString()}")


def _dataframe(session: Any, source: object) -> Any:
    """A Spark DataFrame over one view: Parquet file(s) scanned by Spark (the executors read
    them; columns are unioned by name like DuckDB's ``union_by_name``), or an in-memory frame
    shipped from the driver through Arrow."""
    if isinstance(source, NumberedParquet):
        return _numbered_parquet(session, source.paths)
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    if isinstance(source, (list, tuple)):
        return session.read.option("mergeSchema", "true").parquet(*[os.fspath(path) for path in source])
    if isinstance(source, pl.DataFrame):
        source = source.to_arrow()
    if not isinstance(source, pa.Table):
        raise TypeError(
            f"a view must be a Parquet path, a list of paths, a polars DataFrame or a pyarrow Table; "
            f"got {type(source).__name__}"
        )
    return session.createDataFrame(_plain_arrow(source))


def _numbered_parquet(session: Any, paths: tuple[str, ...]) -> Any:
    """The files' rows with their file's position in ``paths`` and their row in it.

    ``_metadata.file_path`` is the file's URI as Spark lists it (``file:/tmp/a%20b.parquet``):
    percent-decoded (a ``+`` protected first, which ``url_decode`` would read as a space) it is
    the qualified Hadoop path of the given one (``file:/tmp/a b.parquet``), which a map
    literal turns into its position (no join, so no broadcast job per query). A path the map
    lacks gives NULL: a row left unnumbered is an error the validation reports, never a row
    silently dropped. ``_metadata.row_index`` counts rows from the start of the file whichever
    task reads them.
    """
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention

    context = session.sparkContext
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path  # noqa: SLF001 - the one JVM entry point
    configuration = context._jsc.hadoopConfiguration()  # noqa: SLF001
    positions = {}
    for index, path in enumerate(paths):
        target = hadoop_path(path)
        positions[target.getFileSystem(configuration).makeQualified(target).toString()] = index
    numbers = F.create_map(*[F.lit(value) for pair in positions.items() for value in pair])
    key = F.url_decode(F.replace(F.col("_metadata.file_path"), F.lit("+"), F.lit("%2B")))
    return session.read.option("mergeSchema", "true").parquet(*paths).select(
        "*",
        F.try_element_at(numbers, key).cast("bigint").alias(SOURCE_INDEX),
        F.col("_metadata.row_index").cast("bigint").alias(SOURCE_ROW),
    )


def _plain_arrow(table: pa.Table) -> pa.Table:
    """``table`` with dictionary and view columns decoded: Spark's Arrow reader takes neither."""
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if kind == pa.string_view():
            kind = pa.large_string()
        elif kind == pa.binary_view():
            kind = pa.large_binary()
        fields.append(field.with_type(kind))
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)

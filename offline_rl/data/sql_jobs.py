"""Run the SQL jobs in ``sql/`` on embedded DuckDB and hand the results over as Arrow/Parquet.

Every ``.sql`` file is one SELECT over logical table names, with a header that declares
them::

    -- <name>: what it computes
    -- inputs: stg_logged_decisions, signal_responses
    -- params: $session_gap_seconds
    -- grain: one row per ...

The runner resolves each input either to another model file (inlined as a common table
expression, dependencies first, so one job is one streaming query) or to a view the caller
registers (a polars frame, a pyarrow table, or a Parquet path). Every model of a job is
checked by :func:`offline_rl.data.sql_portability.check_portable` before anything runs.
``$name`` parameters are
bound by DuckDB, never pasted into the text. Results come back as a pyarrow Table
(:func:`run_sql_job`) or stream straight to Parquet through a temporary file that is renamed
into place (:func:`write_sql_job`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from offline_rl.data.atomic import atomic_path
from offline_rl.data.sql_portability import check_portable

_HEADER_LIST = re.compile(r"^--\s*(inputs|params)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LEADING_WITH = re.compile(r"^\s*WITH\s+", re.IGNORECASE)
LAYERS = ("staging", "intermediate", "marts", "analysis", "tests")


def sql_root() -> Path:
    """The folder holding the SQL jobs: inside the installed wheel, else the repository's."""
    packaged = Path(__file__).resolve().parents[1] / "sql"
    if packaged.is_dir():
        return packaged
    repository = Path(__file__).resolve().parents[2] / "sql"
    if repository.is_dir():
        return repository
    raise FileNotFoundError(f"the SQL jobs are missing: neither {packaged} nor {repository} exists")


@dataclass(frozen=True, kw_only=True)
class SqlModel:
    """One SQL file: its name, layer, declared inputs and parameters, and its text."""

    name: str
    layer: str
    path: Path
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    sql: str

    @property
    def body(self) -> str:
        """The SELECT without its header comments or trailing semicolon."""
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return "\n".join(lines).strip().rstrip(";").strip()


@cache
def _models(root: Path) -> dict[str, SqlModel]:
    models: dict[str, SqlModel] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            text = path.read_text(encoding="utf-8")
            header = {key.lower(): value for key, value in _HEADER_LIST.findall(text)}
            inputs = tuple(
                item.split("(")[0].strip()
                for item in re.split(r",(?![^(]*\))", header.get("inputs", ""))
                if item.strip() and item.strip().lower() != "none"
            )
            body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
            params = tuple(dict.fromkeys(_PARAMETER.findall(body)))
            if path.stem in models:
                raise ValueError(f"two SQL models are named {path.stem!r}: {models[path.stem].path} and {path}")
            models[path.stem] = SqlModel(
                name=path.stem, layer=layer, path=path, inputs=inputs, params=params, sql=text
            )
    return models


def list_models(layer: str | None = None) -> list[SqlModel]:
    """All SQL models, or those of one ``layer`` (staging, intermediate, marts, analysis, tests)."""
    return [model for model in _models(sql_root()).values() if layer is None or model.layer == layer]


def get_model(name: str) -> SqlModel:
    """The model called ``name`` (file stem), with a helpful error when there is none."""
    models = _models(sql_root())
    if name not in models:
        raise ValueError(f"unknown SQL job {name!r}; available: {sorted(models)}")
    return models[name]


@cache
def _check_portable(model: SqlModel) -> None:
    check_portable(model.sql, source=_display_path(model.path))


def _display_path(path: Path) -> str:
    """``sql/<layer>/<file>`` as the repository names it, wherever the SQL is installed."""
    return f"sql/{path.parent.name}/{path.name}"


def compose_query(name: str, available_views: set[str] | frozenset[str] = frozenset()) -> tuple[str, tuple[str, ...]]:
    """The model's SELECT with every model it depends on inlined as a CTE, and its parameters.

    Inputs that are not models must be among ``available_views`` (registered by the caller).
    Raises :class:`~offline_rl.data.sql_portability.NonPortableSqlError` when a model in the
    chain uses a construct that DuckDB and Spark disagree on.
    """
    order: list[SqlModel] = []
    visiting: set[str] = set()

    def visit(model: SqlModel) -> None:
        if model in order:
            return
        if model.name in visiting:
            raise ValueError(f"SQL models form a cycle through {model.name!r}")
        visiting.add(model.name)
        for dependency in model.inputs:
            if dependency in available_views:
                continue
            dependency_model = _models(sql_root()).get(dependency)
            if dependency_model is None:
                raise ValueError(
                    f"SQL job {name!r} needs the table {dependency!r} (read by {model.path.name}); "
                    f"register it as a view or add a model of that name; registered: {sorted(available_views)}"
                )
            visit(dependency_model)
        visiting.discard(model.name)
        order.append(model)

    target = get_model(name)
    visit(target)
    for model in order:
        _check_portable(model)
    dependencies = order[:-1]
    params = tuple(dict.fromkeys(param for model in order for param in model.params))
    if not dependencies:
        return target.body, params
    ctes = ",\n".join(f"{model.name} AS (\n{model.body}\n)" for model in dependencies)
    body = target.body
    if _LEADING_WITH.match(body):
        return f"WITH {ctes},\n{_LEADING_WITH.sub('', body, count=1)}", params
    return f"WITH {ctes}\n{body}", params


#: DuckDB's memory ceiling; above it sorts and windows spill to a temporary folder, which
#: keeps a 10M-event job under 2 GiB of resident memory instead of ~6 GiB.
DEFAULT_MEMORY_LIMIT = "1500MB"


def _connect(threads: int | None, *, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    # Naive timestamps are UTC everywhere in the toolkit, never the machine's local time.
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
    if spill_dir is not None:
        connection.execute(f"SET temp_directory = '{_quote(spill_dir)}'")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    return connection


def _register(connection: duckdb.DuckDBPyConnection, views: Mapping[str, object]) -> None:
    """Register each view: a Parquet path or list of paths is scanned lazily by DuckDB
    (bounded memory), a polars frame or pyarrow table is read in place."""
    for name, source in views.items():
        if isinstance(source, (str, os.PathLike)):
            source = [source]
        if isinstance(source, (list, tuple)):
            files = [os.fspath(path) for path in source]
            connection.read_parquet(files, union_by_name=True, hive_partitioning=False).create_view(name)
        else:
            connection.register(name, source)


def _bind(params: tuple[str, ...], values: Mapping[str, object] | None, name: str) -> dict[str, object]:
    values = dict(values or {})
    missing = [param for param in params if param not in values]
    if missing:
        raise ValueError(f"SQL job {name!r} needs the parameter(s) {missing}; given {sorted(values)}")
    return {param: values[param] for param in params}


def run_sql_job(
    name: str,
    views: Mapping[str, object],
    params: Mapping[str, object] | None = None,
    *,
    threads: int | None = None,
) -> pa.Table:
    """Run the SQL job ``name`` over ``views`` and return its result as a pyarrow Table.

    Parameters
    ----------
    name
        File stem of the model, e.g. ``"ik_training_set"``.
    views
        Logical table name -> polars DataFrame, pyarrow Table, or Parquet path.
    params
        Values for the model's ``$name`` parameters (extra keys are ignored).
    """
    query, needed = compose_query(name, frozenset(views))
    with _connect(threads) as connection:
        _register(connection, views)
        return connection.sql(query, params=_bind(needed, params, name)).to_arrow_table()


def write_sql_job(
    name: str,
    views: Mapping[str, object],
    out_path: str | os.PathLike[str],
    params: Mapping[str, object] | None = None,
    *,
    threads: int | None = None,
) -> int:
    """Stream the SQL job ``name`` to Parquet at ``out_path`` atomically; return its row count."""
    query, needed = compose_query(name, frozenset(views))
    spill_dir = Path(out_path).parent / ".duckdb-spill"
    with _connect(threads, spill_dir=spill_dir) as connection:
        _register(connection, views)
        with atomic_path(out_path) as temporary:
            connection.execute(
                f"COPY ({query}) TO '{_quote(temporary)}' (FORMAT parquet, COMPRESSION zstd)",
                _bind(needed, params, name),
            )
            rows = connection.execute("SELECT COUNT(*) FROM read_parquet(?)", [str(temporary)]).fetchone()[0]
    if spill_dir.is_dir() and not any(spill_dir.iterdir()):
        spill_dir.rmdir()
    return int(rows)


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")

"""Run the SQL jobs in ``sql/`` on DuckDB or Spark and hand the results over as Arrow/Parquet.

Every ``.sql`` file is one SELECT over logical table names, with a header that declares
them::

    -- <name>: what it computes
    -- inputs: stg_logged_decisions, signal_responses
    -- params: $session_gap_seconds
    -- grain: one row per ...

The runner resolves each input either to another model file (inlined as a common table
expression, dependencies first, so one job is one streaming query) or to a view the caller
registers (a polars frame, a pyarrow table, or a Parquet path). Every model of a job is
checked by :func:`offline_rl.data.sql_portability.check_portable` before anything runs, on
either engine. ``$name`` parameters are bound by the engine, never pasted into the text.
Results come back as a pyarrow Table (:func:`run_sql_job`) or stream straight to Parquet
through a temporary file that is renamed into place (:func:`write_sql_job`).

One runner, two engines (:mod:`offline_rl.data.engines`): ``engine="duckdb"`` runs the text
as written, in this process; ``engine="spark"`` (or ``sql_engine("spark", spark_master=URL)``)
transpiles it to Spark SQL with sqlglot and runs it on any Spark master.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

from offline_rl.data.engines import SqlEngine, sql_engine
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
    engine: str | SqlEngine = "duckdb",
) -> pa.Table:
    """Run the SQL job ``name`` over ``views`` and return its result as a pyarrow Table.

    Parameters
    ----------
    name
        File stem of the model, e.g. ``"ik_training_set"``.
    views
        Logical table name -> polars DataFrame, pyarrow Table, or Parquet path (or list of paths).
    params
        Values for the model's ``$name`` parameters (extra keys are ignored).
    engine
        ``"duckdb"`` (this process), ``"spark"`` (``local[2]``), or an engine from
        :func:`offline_rl.data.engines.sql_engine` (e.g. another Spark master).
    """
    query, needed = compose_query(name, frozenset(views))
    return sql_engine(engine).run(query, views, _bind(needed, params, name))


def write_sql_job(
    name: str,
    views: Mapping[str, object],
    out_path: str | os.PathLike[str],
    params: Mapping[str, object] | None = None,
    *,
    engine: str | SqlEngine = "duckdb",
) -> int:
    """Write the SQL job ``name`` to one Parquet file at ``out_path`` atomically; its row count.

    Both engines write the same layout: one zstd Parquet file, timestamps as INT64 microseconds
    UTC, rows in the job's ORDER BY order, moved into place only once complete.
    """
    query, needed = compose_query(name, frozenset(views))
    return sql_engine(engine).write(query, views, _bind(needed, params, name), out_path)

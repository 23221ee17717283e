"""Small partitioned production-like logs and a fast nightly config for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from offline_rl.simulators import simulate_logs

FAST_SETTINGS = """
[nightly]
seed = 3
ik_epochs = 3
ik_restarts = 1
qriql_steps = 5
quantiles = 4
bootstrap_replicates = 50
threads = 1
"""


def write_partitioned_logs(folder: Path, *, rows: int = 2400, seed: int = 11) -> Path:
    """Production-like logs split into daily partitions date=YYYY-MM-DD/part-0.parquet."""
    simulation = simulate_logs("production", rows=rows, seed=seed)
    logs = pl.from_arrow(simulation.logs)
    # Spread the events over two days so that there are two nightly partitions.
    start = logs["ts"].min()
    span = (logs["ts"].max() - start) / 2
    logs = logs.with_columns(((pl.col("ts") - start) / span).floor().clip(0, 1).cast(pl.Int64).alias("__day"))
    for day in (0, 1):
        part = logs.filter(pl.col("__day") == day).drop("__day").to_arrow().replace_schema_metadata(simulation.logs.schema.metadata)
        label = f"2026-11-0{day + 1}"
        target = folder / f"date={label}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(part.set_column(part.schema.get_field_index("ts"), "ts", _shift(part.column("ts"), day)), target / "part-0.parquet")
    return folder


def _shift(column, day: int):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc

    base = pc.min(column).as_py()
    offset = dt.datetime(2026, 11, 1 + day, tzinfo=dt.UTC) - base.replace(hour=0, minute=0, second=0, microsecond=0)
    return pc.add(column, pa.scalar(offset, type=pa.duration("us")))


@pytest.fixture(scope="session")
def partitioned_logs(tmp_path_factory) -> Path:
    return write_partitioned_logs(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "nightly.toml"
    path.write_text(FAST_SETTINGS)
    return path

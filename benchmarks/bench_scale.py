"""One machine against a Spark cluster of one or two executor cores: the data steps of a night
and the evaluation's statistics, with their per-event CPU costs (for docs/scale.md's capacity
estimate).

Two measurements, each configuration in its own process (so its CPU time is its own: the
process, its Spark JVM and the JVM's Python workers, read from /proc before Spark stops):

* ``prepare``: ``prepare(logs, marts=[ik_training_set, user_trajectories])`` (validation on the
  engine, then both marts) on ``--rows`` synthetic events (benchmarks/bench_ik_training_set.py's
  generator) with DuckDB (``local``), Spark ``local[1]`` (``spark1``) and ``local[2]`` (``spark2``);
* ``evaluation``: the bootstrap's resampling units of the same events (users, 65,536 blocks,
  IPS/SNIPS/NCIS for two policies and two metrics), on this machine with numpy (``local``,
  ``Design.resampling_units``) and on Spark (``spark_resampling_units``, numpy on executors
  through ``mapInArrow``), then B = 1000 replicates on the driver.

Spark's time is split into starting the session (once per process) and the work; the work's
CPU includes the JVM and its Python workers.

Usage: .venv/bin/python benchmarks/bench_scale.py {prepare,evaluation} [--rows N] [--configs local spark1 spark2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
CONFIGS = ("local", "spark1", "spark2")


def _descendant_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and every live descendant, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    me = os.getpid()
    total = 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (0, 1, me) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == me:
            total += seconds
    return total


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _engine(config: str):
    from offline_rl.data.engines import sql_engine
    from offline_rl.data.engines.spark_engine import SparkEngine

    if config == "local":
        return sql_engine("duckdb")
    cores = config.removeprefix("spark")
    engine = SparkEngine(
        f"local[{cores}]",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": cores, "spark.driver.memory": "3g"},
    )
    engine.session().sparkContext.setLogLevel("ERROR")
    return engine


def _log_path(rows: int) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_ik_training_set import generate

    path = DATA / f"logs-{rows}.parquet"
    generate(rows, path)
    return path


def child_prepare(config: str, rows: int) -> dict:
    from offline_rl.data.prepare import prepare

    source = _log_path(rows)
    started, cpu = time.perf_counter(), _descendant_cpu_seconds()
    engine = _engine(config)
    setup, setup_cpu = time.perf_counter() - started, _descendant_cpu_seconds() - cpu
    out = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        started, cpu = time.perf_counter(), _descendant_cpu_seconds()
        result = prepare(source, out, engine=engine)
        seconds, cpu_seconds = time.perf_counter() - started, _descendant_cpu_seconds() - cpu
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"config": config, "rows": result.input_rows, "marts": result.rows, "setup_seconds": setup,
            "setup_cpu_seconds": setup_cpu, "seconds": seconds, "cpu_seconds": cpu_seconds}


def _evaluation_table(rows: int):
    """The log with rewards and two candidate policies' probabilities, as evaluation takes it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = DATA / f"evaluation-{rows}.parquet"
    if not path.exists():
        logs = pq.read_table(_log_path(rows), columns=["event_id", "user_id", "propensity", "feedback"])
        rng = np.random.default_rng(0)
        propensity = logs.column("propensity").to_numpy()
        feedback = logs.column("feedback").to_numpy(zero_copy_only=False)
        table = pa.table({
            "event_id": logs.column("event_id"),
            "user_id": logs.column("user_id"),
            "propensity": propensity,
            "p_target": np.clip(propensity * rng.lognormal(0.0, 0.5, rows), 0.0, 1.0),
            "p_production": np.clip(propensity * rng.lognormal(0.0, 0.2, rows), 0.0, 1.0),
            "click": (feedback == "click").astype(np.float64),
            "like": (feedback == "like").astype(np.float64),
        })
        pq.write_table(table, path.with_suffix(".tmp"), row_group_size=250_000)
        path.with_suffix(".tmp").rename(path)
    return path


def child_evaluation(config: str, rows: int) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from offline_rl.evaluation.bootstrap import bootstrap_functionals
    from offline_rl.evaluation.partitioned import StatisticsLayout, spark_resampling_units

    path = _evaluation_table(rows)
    layout = StatisticsLayout(
        unit="user_id", clustered=True, policies={"target": "p_target", "production": "p_production"},
        rewards={"click": "click", "like": "like"}, estimators=("ips", "snips", "ncis"),
    )
    started, cpu = time.perf_counter(), _descendant_cpu_seconds()
    engine = None if config == "local" else _engine(config)
    setup, setup_cpu = time.perf_counter() - started, _descendant_cpu_seconds() - cpu
    started, cpu = time.perf_counter(), _descendant_cpu_seconds()
    if engine is None:  # this machine: read the columns, then numpy
        table = pq.read_table(path, columns=layout.columns)
        columns = {name: table.column(name).to_numpy() for name in layout.columns if name != "user_id"}
        units = layout.design(columns).resampling_units(
            clusters=table.column("user_id").to_numpy(), max_units=65536, seed=0
        )
    else:
        frame = engine.session().read.parquet(str(path))
        units = spark_resampling_units(frame, layout, max_units=65536, seed=0)
    statistics, statistics_cpu = time.perf_counter() - started, _descendant_cpu_seconds() - cpu
    started, cpu = time.perf_counter(), _own_cpu_seconds()
    boot = bootstrap_functionals(units.units, layout.design().functionals, n_replicates=1000, seed=0,
                                 unit_keys=units.keys)
    replicates, replicates_cpu = time.perf_counter() - started, _own_cpu_seconds() - cpu
    return {"config": config, "rows": rows, "units": units.n_units, "blocks": int(units.units.shape[0]),
            "setup_seconds": setup, "setup_cpu_seconds": setup_cpu, "seconds": statistics,
            "cpu_seconds": statistics_cpu, "bootstrap_seconds": replicates, "bootstrap_cpu_seconds": replicates_cpu,
            "first_percentile": [float(x) for x in np.asarray(boot.percentile[0])]}


def measure(kind: str, config: str, rows: int) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, config, str(rows)], capture_output=True, text=True, cwd=ROOT
    )
    if completed.returncode:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("prepare", "evaluation"), nargs="?")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CONFIG", "ROWS"))
    args = parser.parse_args()
    if args.child:
        kind, config, rows = args.child
        result = {"prepare": child_prepare, "evaluation": child_evaluation}[kind](config, int(rows))
        print(json.dumps(result))
        return
    print(f"# {args.kind}, {args.rows:,} events, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", flush=True)
    for config in args.configs:
        before = os.getloadavg()[0]
        result = measure(args.kind, config, args.rows)
        result["load_average"] = [before, os.getloadavg()[0]]
        result["cpu_microseconds_per_event"] = 1e6 * result["cpu_seconds"] / args.rows
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Raw logs -> ``ik_training_set`` at 1M and 10M events: ours beside plain pandas, one run.

Each measurement runs in its own subprocess so its peak RSS and CPU time are its own. Ours
is the full ``prepare`` path (file headers checked here, every row rule checked by DuckDB's
aggregate queries over the Parquet file, then the DuckDB SQL job streamed to Parquet); the
pandas peer does the transform alone (read, K, action index, weight, sort, write), with no
validation, so the ratio understates what ours does per second. CPU seconds (every thread
of the process) are printed beside wall seconds: on a machine shared with other work the
wall times depend on what else runs, the CPU times much less.

Usage: python benchmarks/bench_ik_training_set.py [--sizes 1000000 10000000] [--skip-pandas-above N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / ".data"
CHUNK = 1_000_000
N_ACTIONS = 10
CONTEXT_DIM = 8


def generate(rows: int, path: Path, seed: int = 0) -> None:
    """Synthetic logs: K = 10 candidates, softmax logging policy, 8 context features."""
    from offline_rl.schema import LOG_SCHEMA, schema_with_vocabulary

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocabulary = ["none", "click", "like", "dislike"]
    schema = schema_with_vocabulary(vocabulary, LOG_SCHEMA)
    start = np.datetime64("2026-11-01T00:00:00", "us")
    with pq.ParquetWriter(path.with_suffix(".tmp"), schema, compression="zstd") as writer:
        for offset in range(0, rows, CHUNK):
            n = min(CHUNK, rows - offset)
            logits = rng.normal(size=(n, N_ACTIONS))
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            cumulative = probs.cumsum(axis=1)
            actions = (rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, N_ACTIONS - 1)
            propensity = probs[np.arange(n), actions]
            candidates = pa.ListArray.from_arrays(
                np.arange(0, (n + 1) * N_ACTIONS, N_ACTIONS, dtype=np.int32),
                pa.array(np.tile(np.arange(N_ACTIONS, dtype=np.int64), n)),
            )
            action_probs = pa.ListArray.from_arrays(
                np.arange(0, (n + 1) * N_ACTIONS, N_ACTIONS, dtype=np.int32), pa.array(probs.ravel())
            )
            context = pa.ListArray.from_arrays(
                np.arange(0, (n + 1) * CONTEXT_DIM, CONTEXT_DIM, dtype=np.int32),
                pa.array(rng.normal(size=n * CONTEXT_DIM).astype(np.float32)),
            )
            feedback = np.array(vocabulary)[rng.choice(4, size=n, p=[0.85, 0.1, 0.04, 0.01])]
            table = pa.table(
                {
                    "event_id": np.arange(offset, offset + n, dtype=np.int64),
                    "ts": pa.array(start + np.arange(offset, offset + n) * np.timedelta64(1, "s")).cast(pa.timestamp("us", "UTC")),
                    "user_id": rng.integers(0, 100_000, n),
                    "context": context,
                    "candidate_actions": candidates,
                    "action": actions.astype(np.int64),
                    "propensity": propensity,
                    "action_probs": action_probs,
                    "feedback": feedback,
                    "reward": rng.random(n),
                },
                schema=schema,
            )
            writer.write_table(table)
    path.with_suffix(".tmp").rename(path)


def run_ours(source: str, out: str) -> dict:
    from offline_rl.data.prepare import prepare

    result = prepare(source, out, marts=["ik_training_set"])
    return {"rows": result.rows["ik_training_set"]}


def run_sql_only(source: str, out: str) -> dict:
    from offline_rl.data.sql_jobs import write_sql_job

    rows = write_sql_job("ik_training_set", {"logs": [source]}, Path(out) / "ik_training_set.parquet", {"max_weight": None})
    return {"rows": rows}


def run_pandas(source: str, out: str) -> dict:
    import pandas as pd

    frame = pd.read_parquet(source, columns=[
        "event_id", "ts", "user_id", "context", "feedback", "candidate_actions", "action", "propensity",
    ])
    frame["num_candidates"] = frame["candidate_actions"].map(len)
    frame["action_index"] = [
        list(candidates).index(action) for candidates, action in zip(frame["candidate_actions"], frame["action"], strict=True)
    ]
    frame["raw_weight"] = 1.0 / (frame["num_candidates"] * frame["propensity"])
    frame["weight"] = frame["raw_weight"]
    frame = frame.sort_values(["ts", "event_id"], kind="stable")
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(Path(out) / "ik_training_set.parquet", index=False)
    return {"rows": len(frame)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, source: str, out: str) -> None:
    started, cpu = time.perf_counter(), _cpu_seconds()
    result = {"ours": run_ours, "sql": run_sql_only, "pandas": run_pandas}[kind](source, out)
    result["seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = _cpu_seconds() - cpu  # every thread of this process
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(kind: str, source: Path, rows: int) -> dict:
    out = DATA / f"out-{kind}-{rows}"
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(source), str(out)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--skip-pandas-above", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SOURCE", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"# ik_training_set benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| events | ours: validate + SQL, s (CPU s) | events/s | peak RSS MiB | ours: SQL only, s (CPU s) "
          "| peak RSS MiB | pandas transform, s (CPU s) | peak RSS MiB | speed-up, wall: full / SQL only "
          "| speed-up, CPU: full / SQL only | load average before / after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.sizes:
        source = DATA / f"logs-{rows}.parquet"
        generate(rows, source)
        before = os.getloadavg()[0]
        ours = measure("ours", source, rows)
        sql = measure("sql", source, rows)
        assert ours["rows"] == sql["rows"] == rows
        if rows <= args.skip_pandas_above:
            peer = measure("pandas", source, rows)
            wall = f"{peer['seconds'] / ours['seconds']:.1f}x / {peer['seconds'] / sql['seconds']:.1f}x"
            cpu = f"{peer['cpu_seconds'] / ours['cpu_seconds']:.1f}x / {peer['cpu_seconds'] / sql['cpu_seconds']:.1f}x"
            peer_cells = f"{peer['seconds']:.1f} ({peer['cpu_seconds']:.1f}) | {peer['peak_rss_mib']:.0f}"
        else:
            wall, cpu, peer_cells = "n/a", "n/a", "skipped | skipped"
        print(f"| {rows:,} | {ours['seconds']:.1f} ({ours['cpu_seconds']:.1f}) | {rows / ours['seconds']:,.0f} | "
              f"{ours['peak_rss_mib']:.0f} | {sql['seconds']:.1f} ({sql['cpu_seconds']:.1f}) | {sql['peak_rss_mib']:.0f} | "
              f"{peer_cells} | {wall} | {cpu} | {before:.1f} / {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()

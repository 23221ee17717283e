"""QR-IQL at scale on CPU: torch threads, peak memory of a streamed fit, and 1 vs 2 DDP processes.

Three measurements, each fit in its own process (so peak RSS is its own):

* ``threads``: the same in-memory fit (``--rows`` sessions-simulator steps, ``--steps`` Adam
  steps at batch 4000, N = 10) with 1 and with 2 torch threads, interleaved ``--repeats``
  times -> seconds per fit and the ratio;
* ``rss``: ``offline-rl fit-qriql`` on a ``user_trajectories`` Parquet (streamed: fit + every
  row's mental reward) against the same work on the frame read into memory (``QRIQL.fit`` +
  ``write_mental_rewards``), at each of ``--sizes`` rows (the simulator's table repeated with
  fresh user ids, row groups of 65,536 rows) -> peak RSS (``ru_maxrss``) and seconds;
* ``ddp``: ``fit-qriql`` on a Parquet of 48 training users, 1 process and
  ``torchrun --nproc-per-node 2`` (gloo), seeds 0-4 -> held-out loss on 12 other users, the
  Pearson correlation of their r* between the two fits of a seed, and wall seconds.

Usage: .venv/bin/python benchmarks/bench_qriql_scale.py {threads,rss,ddp} [options]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _header() -> dict:
    import torch

    return {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "loadavg": os.getloadavg()}


def _child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ threads
THREADS_CHILD = """
import json, sys, time
import polars as pl
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators.sessions import simulate
rows, steps, threads = map(int, sys.argv[1:4])
trajectories = user_trajectories(drop_hidden_reward(pl.from_arrow(simulate(rows=rows, seed=3).logs)))
model = QRIQL(QRIQLConfig(steps=steps, batch_size=4000, max_threads=threads)).fit(trajectories)
print(json.dumps({"threads": threads, "fit_seconds": model.fit_seconds_, "final_loss": model.loss_curve_[-1]}))
"""


def threads(args) -> dict:
    runs = []
    for _ in range(args.repeats):
        for count in (1, 2):
            runs.append(_child(THREADS_CHILD, str(args.rows), str(args.steps), str(count)))
            print(runs[-1], flush=True)
    return {"rows": args.rows, "steps": args.steps, "runs": runs}


# ------------------------------------------------------------------------------------ rss
MAKE_CHILD = """
import json, sys
import polars as pl, pyarrow.parquet as pq
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.simulators.sessions import simulate
rows, path = int(sys.argv[1]), sys.argv[2]
base = user_trajectories(drop_hidden_reward(pl.from_arrow(simulate(rows=20000, seed=3).logs)))
users = int(base["user_id"].max()) + 1
with pq.ParquetWriter(path, base.to_arrow().schema, compression="zstd") as writer:
    written, copy = 0, 0
    while written < rows:
        part = base.head(rows - written).with_columns(pl.col("user_id") + copy * users)
        writer.write_table(part.to_arrow(), row_group_size=65536)
        written += part.height
        copy += 1
print(json.dumps({"rows": written}))
"""

STREAMED_CHILD = """
import json, resource, sys, time
from offline_rl.cli import main
start = time.perf_counter()
main(["fit-qriql", sys.argv[1], "--out", sys.argv[2], "--steps", sys.argv[3], "--threads", "1"],
     standalone_mode=False)
print(json.dumps({"mode": "streamed (fit-qriql on Parquet)", "seconds": time.perf_counter() - start,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IN_MEMORY_CHILD = """
import json, resource, sys, time
import polars as pl
from offline_rl.qriql import QRIQL, QRIQLConfig
start = time.perf_counter()
frame = pl.read_parquet(sys.argv[1])
model = QRIQL(QRIQLConfig(steps=int(sys.argv[3]), max_threads=1)).fit(frame)
model.write_mental_rewards(frame, sys.argv[2] + "/mental_rewards.parquet")
print(json.dumps({"mode": "in memory (read_parquet + fit + rewards)", "seconds": time.perf_counter() - start,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def rss(args) -> dict:
    out = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        for size in args.sizes:
            path = Path(scratch) / f"trajectories_{size}.parquet"
            made = _child(MAKE_CHILD, str(size), str(path))
            for code in (STREAMED_CHILD, IN_MEMORY_CHILD):
                target = Path(scratch) / f"out_{size}"
                target.mkdir(exist_ok=True)
                measured = {"rows": made["rows"], "file_mib": path.stat().st_size / 2**20,
                            **_child(code, str(path), str(target), str(args.steps))}
                out.append(measured)
                print(measured, flush=True)
                shutil.rmtree(target)
            path.unlink()
    return {"steps": args.steps, "runs": out}


# ------------------------------------------------------------------------------------ ddp
SPLIT_CHILD = """
import json, sys
import polars as pl, pyarrow.parquet as pq
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.simulators.sessions import simulate
folder = sys.argv[1]
t = user_trajectories(drop_hidden_reward(pl.from_arrow(simulate(rows=3000, seed=3, n_users=60, n_items=60).logs)))
t.filter(pl.col("user_id") % 5 == 0).write_parquet(folder + "/test.parquet")
pq.write_table(t.filter(pl.col("user_id") % 5 != 0).to_arrow(), folder + "/train.parquet", row_group_size=200)
print(json.dumps({}))
"""

SCORE_CHILD = """
import json, sys
import polars as pl
from offline_rl.qriql import QRIQL
test = pl.read_parquet(sys.argv[1])
model = QRIQL.load(sys.argv[2])
print(json.dumps({"held_out_loss": model.loss(test),
                  "rewards": model.mental_rewards(test)["mental_reward"].to_list()}))
"""


def ddp(args) -> dict:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    fit = ["--steps", "80", "--batch-size", "256", "--quantiles", "4", "--device", "cpu"]
    runs = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        _child(SPLIT_CHILD, scratch)
        for seed in range(5):
            scores = {}
            for processes in (1, 2):
                out = f"{scratch}/p{processes}s{seed}"
                launcher = ([torchrun, "--standalone", "--nproc-per-node", str(processes)]
                            if processes > 1 else [sys.executable])
                start = time.perf_counter()
                subprocess.run([*launcher, "-m", "offline_rl", "fit-qriql", f"{scratch}/train.parquet",
                                "--out", out, "--seed", str(seed), *fit], check=True, capture_output=True, cwd=ROOT)
                wall = time.perf_counter() - start
                scores[processes] = {**_child(SCORE_CHILD, f"{scratch}/test.parquet", f"{out}/model"), "wall": wall}
            correlation = float(np.corrcoef(scores[1]["rewards"], scores[2]["rewards"])[0, 1])
            runs.append({"seed": seed, "loss_1": scores[1]["held_out_loss"], "loss_2": scores[2]["held_out_loss"],
                         "r_star_correlation": correlation, "wall_1": scores[1]["wall"], "wall_2": scores[2]["wall"]})
            print(runs[-1], flush=True)
    return {"runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("threads")
    t.add_argument("--rows", type=int, default=20000)
    t.add_argument("--steps", type=int, default=60)
    t.add_argument("--repeats", type=int, default=2)
    r = sub.add_parser("rss")
    r.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    r.add_argument("--steps", type=int, default=50)
    r.add_argument("--scratch", default=None)
    d = sub.add_parser("ddp")
    d.add_argument("--scratch", default=None)
    args = parser.parse_args()
    started = _header()
    result = {"threads": threads, "rss": rss, "ddp": ddp}[args.what](args)
    print(json.dumps({"started": started, "finished": _header(), args.what: result}, indent=2))


if __name__ == "__main__":
    main()

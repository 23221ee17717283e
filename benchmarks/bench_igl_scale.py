"""IGL-P at scale on CPU: 1 against 2 DDP processes, and the memory of a fit read from Parquet.

* ``ddp``: the Covertype stream (``--rows`` events, 100 users and words, uniform logging) as an
  ``ik_training_set`` Parquet (row groups of 2,000), fitted with the Covertype experiment's
  config (``covertype_config``, 1 torch thread) by 1 process and by
  ``torchrun --standalone --nproc-per-node 2`` (gloo), seeds ``--seeds`` -> wall seconds (the
  launch included), CPU seconds of every process, the out-of-fold IK NLL and the decoded F1 of
  every training row against the hidden reward (read only here, to score);
* ``rss``: one process, the same fit from ``ParquetRowGroups`` (read row group by row group)
  against the frame read whole (``pl.read_parquet``), each in its own interpreter -> peak RSS.

Usage: .venv/bin/python benchmarks/bench_igl_scale.py {ddp,rss} [--rows N] [--seeds 0,1,2]
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

FIT_CHILD = """
import json, resource, sys, time
import polars as pl
from offline_rl.igl.experiments._common import precision_recall_f1
from offline_rl.igl.experiments.covertype import covertype_config
from offline_rl.igl.folder import fit_to_folder
from offline_rl.runtime import ParquetRowGroups
data, seed, out, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
start = time.perf_counter()
source = ParquetRowGroups(data + "/train.parquet") if mode == "stream" else pl.read_parquet(data + "/train.parquet")
fitted = fit_to_folder(source, out, config=covertype_config(seed, device="cpu", max_threads=1))
if fitted.world.is_main:
    truth = pl.read_parquet(data + "/truth.parquet")
    decoded = fitted.decoded.join(truth, on="event_id", how="left")
    f1 = precision_recall_f1(decoded["decoded_reward"].to_numpy() > 0, decoded["reward"].to_numpy() > 0)["f1"]
    print(json.dumps({"world_size": fitted.world.world_size, "seed": seed, "fit_s": time.perf_counter() - start,
                      "ik_nll": fitted.model.ik_held_out_nll_, "no_signal": fitted.model.ik_no_signal_nll_,
                      "f1": f1, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _header() -> dict:
    import torch

    return {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "loadavg": os.getloadavg(), "gpu": torch.cuda.is_available()}


def _data(rows: int, folder: Path) -> Path:
    import polars as pl
    import pyarrow.parquet as pq

    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.simulators import simulate_logs

    sim = simulate_logs("covertype", rows=rows, seed=0, n_users=100, n_words=100)
    logs = pl.from_arrow(sim.logs)
    pq.write_table(ik_training_set(drop_hidden_reward(logs)).to_arrow(), folder / "train.parquet",
                   row_group_size=2000)
    logs.select("event_id", "reward").write_parquet(folder / "truth.parquet")
    return folder


def _run(command: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    line = [text for text in result.stdout.splitlines() if text.startswith("{")][-1]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(line), "wall_s": wall, "cpu_s": cpu}


def _torchrun() -> list[str]:
    found = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


def ddp(rows: int, seeds: list[int]) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(rows, Path(tmp))
        script = Path(tmp) / "fit_child.py"
        script.write_text(FIT_CHILD)
        for seed in seeds:
            for processes in (1, 2):
                launcher = [sys.executable] if processes == 1 else [
                    *_torchrun(), "--standalone", "--nproc-per-node", "2"]
                record = _run([*launcher, str(script), str(data), str(seed), f"{tmp}/run{seed}_{processes}",
                               "stream"])
                print(json.dumps(record), flush=True)
                out.append(record)
    return out


def rss(rows: int, seeds: list[int]) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(rows, Path(tmp))
        script = Path(tmp) / "fit_child.py"
        script.write_text(FIT_CHILD)
        for mode in ("stream", "frame"):
            record = {**_run([sys.executable, str(script), str(data), str(seeds[0]), f"{tmp}/{mode}", mode]),
                      "mode": mode}
            print(json.dumps(record), flush=True)
            out.append(record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", default="ddp", choices=["ddp", "rss"])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    print(json.dumps(_header()), flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    (ddp if args.part == "ddp" else rss)(args.rows, seeds)


if __name__ == "__main__":
    main()

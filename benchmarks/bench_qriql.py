"""QR-IQL reward-model training speed on CPU: samples/s at batch 4000 and time to a fixed loss.

The data are ``user_trajectories`` of the sessions simulator (``--rows`` steps, seed 0). For
N = 10 (QR-IQL) and N = 1 (IQ-Learn) on the same data:

* throughput: ``--repeats`` short runs of ``--steps`` Adam steps at ``--batch-size`` (forward
  of s and s', loss, backward, Adam step; the learner's own timer), N = 10 and N = 1
  interleaved so both see the same machine load -> median (min, max) samples/s;
* time to loss: from the same run, the first step at which the mean loss of the last 20 steps
  is <= ``--target-loss`` -> steps and seconds (at the run's mean seconds per step).

The paper reports 50,000 iterations at batch 4000 in ~3 h on an RTX 3090 (~18,500 samples/s);
the script also prints our CPU time for 50,000 iterations at the measured rate.

Usage: .venv/bin/python benchmarks/bench_qriql.py [--rows 20000] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform

import numpy as np
import polars as pl
import torch

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators.sessions import simulate


def time_to_loss(trajectories, categories, *, quantiles, batch, target, max_steps, threads):
    config = QRIQLConfig(quantiles=quantiles, steps=max_steps, batch_size=batch,
                         max_threads=threads)
    model = QRIQL(config).fit(trajectories, item_categories=categories)
    curve = np.asarray(model.loss_curve_)
    window = np.convolve(curve, np.ones(20) / 20, mode="valid")
    hit = np.flatnonzero(window <= target)
    seconds_per_step = model.fit_seconds_ / max_steps
    if hit.size == 0:
        reach = {"reached": False, "steps": max_steps, "seconds": model.fit_seconds_}
    else:
        steps = int(hit[0]) + 20
        reach = {"reached": True, "steps": steps, "seconds": steps * seconds_per_step}
    return model.samples_per_second_, {**reach, "final_loss": float(window[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target-loss", type=float, default=0.6)
    parser.add_argument("--max-steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = simulate(rows=args.rows, seed=0)
    trajectories = user_trajectories(drop_hidden_reward(pl.from_arrow(sim.logs)))
    categories = dict(enumerate(sim.truth["item_category"]))
    results = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "nproc": os.cpu_count(), "torch": torch.__version__,
               "machine": platform.processor() or platform.machine(), "device": "cpu",
               "rows": trajectories.height, "batch_size": args.batch_size, "models": {}}
    models = (("QR-IQL (N=10)", 10), ("IQ-Learn (N=1)", 1))
    rates: dict[str, list[float]] = {name: [] for name, _ in models}
    for _ in range(args.repeats):
        for name, quantiles in models:
            model = QRIQL(QRIQLConfig(quantiles=quantiles, steps=args.steps,
                                      batch_size=args.batch_size, max_threads=args.threads)
                          ).fit(trajectories, item_categories=categories)
            rates[name].append(model.samples_per_second_)
    for name, quantiles in models:
        rate = float(np.median(rates[name]))
        _, reach = time_to_loss(trajectories, categories, quantiles=quantiles,
                                batch=args.batch_size, target=args.target_loss,
                                max_steps=args.max_steps, threads=args.threads)
        results["models"][name] = {
            "samples_per_second_median": rate,
            "samples_per_second_runs": rates[name],
            "seconds_per_step": args.batch_size / rate,
            "hours_for_50000_steps": 50000 * args.batch_size / rate / 3600,
            "target_loss": args.target_loss,
            "time_to_target": reach,
        }
        print(f"{name}: {rate:,.0f} samples/s (median of {rates[name]}) at batch "
              f"{args.batch_size} ({args.batch_size / rate * 1000:.0f} ms/step; 50k steps = "
              f"{50000 * args.batch_size / rate / 3600:.1f} h); loss <= {args.target_loss}: "
              f"{reach}", flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

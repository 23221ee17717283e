"""Why does the IK model find no signal on the nightly-size log? (issue #11, item 2)

``benchmarks/bench_igl.py --suite signal`` fits IGL-P(3) with the CLI defaults on the nightly's
small log (20,000 events of the production simulator's defaults: ~1,000 users, 500 items,
K = 20, logged by the simulator's production policy) from the ``ik_training_set`` mart, as the
nightly fits it: the mart keeps only the logged propensity, so the IK likelihood runs under
the synthetic uniform distribution with importance weights 1 / (K p). This script refits the
same seeds with one thing changed at a time, and reads only what a user can compute (the
out-of-fold IK NLL, its no-signal level, the weights' effective sample size), never the
simulator's truth:

* ``logging distribution``: the same log with ``action_probs`` joined back (what
  ``fit-igl`` does on raw Parquet logs): the IK likelihood uses the logging distribution
  itself, unweighted;
* ``uniform logging``: 20,000 events of the same world logged uniformly (every weight 1);
* ``5x rows``: 100,000 events, the nightly's logging policy and path (importance weights).

Usage::

    python benchmarks/igl_signal_study.py --out runs/signal_study [--seeds 0 1 2 3 4]
        [--variants weighted logging_distribution uniform rows_5x]

Appends one JSON line per (variant, seed) to ``OUT/signal_study.jsonl`` (a rerun skips what
is there) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

VARIANTS = {
    "weighted": {"rows": 20_000, "options": {}, "action_probs": False},
    "logging_distribution": {"rows": 20_000, "options": {}, "action_probs": True},
    "uniform": {"rows": 20_000, "options": {"logging": "uniform"}, "action_probs": False},
    "rows_5x": {"rows": 100_000, "options": {}, "action_probs": False},
}


def fit_variant(variant: str, seed: int) -> dict:
    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.igl import IGLP, IGLPConfig
    from offline_rl.simulators import simulate_logs

    spec = VARIANTS[variant]
    sim = simulate_logs("production", rows=spec["rows"], seed=seed, **spec["options"])
    logs = drop_hidden_reward(pl.from_arrow(sim.logs))
    frame = ik_training_set(logs)
    if spec["action_probs"]:
        frame = frame.join(logs.select("event_id", "action_probs"), on="event_id", how="left",
                           maintain_order="left")
    weight = frame["weight"].to_numpy()
    config = IGLPConfig(states=3, negative_signals=("dislike",), seed=seed)
    start = time.perf_counter()
    model = IGLP(config)
    decoded = model.fit_decode(frame, actions=pl.from_arrow(sim.actions))
    return {
        "variant": variant, "seed": seed, "rows": frame.height,
        "users": frame["user_id"].n_unique(),
        "weight_ess": float(weight.sum() ** 2 / (weight ** 2).sum()),
        "max_weight": float(weight.max()),
        "ik_held_out_nll": model.ik_held_out_nll_, "ik_no_signal_nll": model.ik_no_signal_nll_,
        "gain": model.ik_no_signal_nll_ - model.ik_held_out_nll_,
        "found_signal": model.ik_found_signal_, "alpha": model.alpha_,
        "extreme_rate": float(decoded["is_extreme"].mean()),
        "attempts": [(r.fold, r.restart, r.epochs, r.best_epoch) for r in model.ik_restarts_],
        "fit_seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "signal_study.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(r["variant"], r["seed"]) for r in rows}
    for variant in args.variants:
        for seed in args.seeds:
            if (variant, seed) in done:
                continue
            row = fit_variant(variant, seed)
            rows.append(row)
            with path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print("| variant | seed | rows | weight ESS | out-of-fold IK NLL | no-signal | gain | found "
          "| alpha_ | extreme rate | fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"])):
        print(f"| {r['variant']} | {r['seed']} | {r['rows']:,} | {r['weight_ess']:,.0f} "
              f"| {r['ik_held_out_nll']:.4f} | {r['ik_no_signal_nll']:.4f} | {r['gain']:.4f} "
              f"| {r['found_signal']} | {r['alpha']:.3f} | {r['extreme_rate']:.3f} "
              f"| {r['fit_seconds']:.0f} |")
    for variant in VARIANTS:
        gains = [r["gain"] for r in rows if r["variant"] == variant]
        if gains:
            print(f"{variant}: gain min / median / max {min(gains):.4f} / "
                  f"{float(np.median(gains)):.4f} / {max(gains):.4f} over {len(gains)} seeds")


if __name__ == "__main__":
    main()

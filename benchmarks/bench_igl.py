"""IGL-P benchmarks, each suite in one run: beside a contextual bandit of the same policy class
on a production-like log (``--suite cost``), the cost of a training step against the number of
users (``--suite users``), and beside Vowpal Wabbit on a Covertype-like stream (``--suite vw``).

Suite ``cost``: the production simulator with its defaults (500 items, 20 candidates, the
production logging policy, item features in the actions table), 120,000 logged events, the
logging distribution joined as ``offline-rl fit-igl`` joins it from raw Parquet logs. Fitted
side by side, rounds interleaved (``--repeat``): IGL-P(3) with the CLI defaults
(``IGLPConfig(states=3, negative_signals=("dislike",))``: 3-fold cross-fitting, alpha
estimated) and ``RewardBandit`` with the same config on the hand-engineered reward
click + 2 like - 2 dislike. Quality, for the record: the out-of-fold IK NLL against the
no-signal level, and the latent reward / click / like / dislike rates of each greedy policy on
30,000 fresh events (simulator truth, common random numbers).

Suite ``users``: the time of one IK training step (a mini-batch of 4,096 rows of the production
simulator, K = 20, item features) with 1,000 / 1,000,000 / 5,000,000 users in the vocabulary:
the user deviations are a sparse embedding stepped by SparseAdam (this release) against the
same model with a dense embedding and dense Adam (how the free user embeddings were trained).

Suite ``vw`` (below): IGL-P beside Vowpal Wabbit on the Covertype stream.

Stream: the Covertype IGL simulation (``offline_rl.simulators.covertype``) with 500k
events, 54 raw features, 7 actions, uniform logging, 100 users (half bizarro) and 100 words
(half good). The first 80% of events are for learning, the last 20% for the holdout
true-reward rate of each learner's greedy policy (labels come from the simulator, only for
scoring).

Measured, each in its own subprocess (so its peak RSS is its own):

* ``vw_igl``   -- VW's IGL reduction ``--cb_explore_adf --experimental_igl --coin -q UA``
  over dsjson (feedback word in ``o``), one pass, C++ parser (``run_parser``);
* ``vw_cb``    -- VW's plain contextual bandit given the true reward (the oracle):
  ``--cb_explore_adf --coin -q UA`` over dsjson with ``_label_cost = -reward``;
* ``iglp``     -- our IGL-P(2) fit (IK + policy) on the same events (from Parquet);
* ``iglp_1m``  -- our full path at 1M events read from Parquet: ``load_logs`` (validated)
  -> ``ik_training_set`` (SQL) -> IGL-P fit; events/s and peak RSS.

Usage: python benchmarks/bench_igl.py [--suite cost|users|vw|all] [--repeat 3] [--threads 1]
[--rows 500000] [--big-rows 1000000] [--user-counts 1000,1000000,5000000]
Results are printed as JSON lines and Markdown tables (for BENCHMARKS.md).
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

DATA = Path(__file__).resolve().parent / ".data" / "igl"
HOLDOUT = 0.2
VW_IGL_ARGS = "--cb_explore_adf --experimental_igl --coin -q UA --dsjson --quiet"
VW_CB_ARGS = "--cb_explore_adf --coin -q UA --dsjson --quiet"


#: Each of the 3 cross-fitted IK models: at most 8 epochs (1 of them warm-up), a second
#: attempt only if the first stays at the no-signal point.
BUDGET = {"ik_epochs": 8, "ik_restarts": 2, "policy_epochs": 4, "ik_batch_size": 8192}


def iglp_config(threads: int, seed: int = 0):
    """The large-stream budget: fewer epochs (each epoch has many more steps than at 60k)."""
    from offline_rl.igl.config import IGLPConfig

    return IGLPConfig(
        states=2, embedding_dim=2, context_interaction=False, hidden_dim=64, action_dim=16,
        ik_epochs=BUDGET["ik_epochs"], ik_warmup_epochs=1, ik_restarts=BUDGET["ik_restarts"],
        ik_batch_size=BUDGET["ik_batch_size"], policy_epochs=BUDGET["policy_epochs"], policy_batch_size=8192,
        max_threads=threads, seed=seed,
    )


# ----------------------------------------------------------------------------- data
def stream_paths(rows: int) -> dict[str, Path]:
    stem = DATA / f"covertype_{rows}"
    return {
        "logs": stem.with_suffix(".parquet"),
        "labels": Path(f"{stem}_labels.npy"),
        "train_json": Path(f"{stem}_train_igl.json"),
        "train_cb_json": Path(f"{stem}_train_cb.json"),
        "test_json": Path(f"{stem}_test.json"),
    }


def make_stream(rows: int, seed: int = 0) -> dict[str, Path]:
    """Simulate the stream once; write Parquet logs, per-event labels and dsjson files."""
    import polars as pl

    from offline_rl.simulators import simulate_logs, write_simulation

    paths = stream_paths(rows)
    if all(p.exists() for p in paths.values()):
        return paths
    DATA.mkdir(parents=True, exist_ok=True)
    sim = simulate_logs("covertype", rows=rows, seed=seed, standardize_context=False)
    env = sim.environment
    folder = DATA / f"covertype_{rows}_sim"
    write_simulation(sim, folder)
    os.replace(folder / "logs.parquet", paths["logs"])
    logs = pl.from_arrow(sim.logs)
    n = logs.height
    context = logs["context"].explode().to_numpy().astype(np.float32).reshape(n, -1)
    lookup: dict[bytes, int] = {}
    for row, label in zip(np.ascontiguousarray(env.contexts, dtype=np.float32), env.labels,
                          strict=True):
        lookup.setdefault(row.tobytes(), int(label))
    labels = np.array([lookup[np.ascontiguousarray(c).tobytes()] for c in context])
    np.save(paths["labels"], labels)
    n_train = int(round((1 - HOLDOUT) * n))
    users = logs["user_id"].to_numpy()
    actions = logs["action"].to_numpy()
    props = logs["propensity"].to_numpy()
    words = logs["feedback"].to_list()
    rewards = logs["reward"].to_numpy()
    multi = [{"Action": {f"a={k}": 1}} for k in range(7)]

    def shared(i: int) -> dict:
        feats = {f"f{j}": round(float(v), 4) for j, v in enumerate(context[i]) if v != 0}
        feats[f"user={users[i]}"] = 1
        return {"User": feats, "_multi": multi}

    def line(i: int, *, igl: bool, label: bool = True) -> str:
        record: dict = {}
        if label:
            record = {
                "_label_cost": 0.0 if igl else -float(rewards[i]),
                "_label_probability": float(props[i]),
                "_label_Action": int(actions[i]) + 1,
                "_labelIndex": int(actions[i]),
            }
            if igl:
                record["o"] = [{"v": {f"v={words[i]}": 1}, "_definitely_bad": False}]
        record.update({"a": list(range(1, 8)), "c": shared(i), "p": [1 / 7] * 7})
        return json.dumps(record, separators=(",", ":"))

    for key, igl in (("train_json", True), ("train_cb_json", False)):
        with open(paths[key], "w") as handle:
            for i in range(n_train):
                handle.write(line(i, igl=igl) + "\n")
    with open(paths["test_json"], "w") as handle:
        for i in range(n_train, n):
            handle.write(line(i, igl=False, label=False) + "\n")
    return paths


def _holdout_labels(rows: int) -> tuple[np.ndarray, int]:
    labels = np.load(stream_paths(rows)["labels"])
    n_train = int(round((1 - HOLDOUT) * labels.size))
    return labels[n_train:], n_train


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- parts
def part_vw(rows: int, kind: str) -> dict:
    import vowpalwabbit

    paths = stream_paths(rows)
    labels, n_train = _holdout_labels(rows)
    model = DATA / f"vw_{kind}_{rows}.model"
    preds = DATA / f"vw_{kind}_{rows}.preds"
    args = VW_IGL_ARGS if kind == "igl" else VW_CB_ARGS
    data = paths["train_json"] if kind == "igl" else paths["train_cb_json"]
    start, cpu = time.perf_counter(), time.process_time()
    ws = vowpalwabbit.Workspace(f"{args} -d {data} -f {model}")
    ws.run_parser()
    ws.finish()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    ws = vowpalwabbit.Workspace(f"-t -i {model} --dsjson --quiet -d {paths['test_json']} -p {preds}")
    ws.run_parser()
    ws.finish()
    chosen = []
    for text in preds.read_text().splitlines():
        if not text.strip():
            continue
        pairs = [p.split(":") for p in text.split(",")]
        best = max(pairs, key=lambda p: float(p[1]))
        chosen.append(int(best[0]))
    chosen = np.array(chosen)
    rate = float((chosen == labels[: chosen.size]).mean())
    return {
        "learner": f"vw_{kind}",
        "command": f"vw {args} (one pass)",
        "train_events": n_train,
        "fit_seconds": seconds,
        "fit_cpu_seconds": cpu_seconds,
        "events_per_second": n_train / seconds,
        "holdout_true_reward_rate": rate,
        "holdout_events": int(chosen.size),
        "peak_rss_mib": _peak_rss_mib(),
    }


def _warm_torch_optimiser() -> float:
    """torch.optim's first use imports torch._dynamo (1-3 s, once per process); pay it
    before the clock starts, as VW's import is outside its timing, and report it."""
    import torch

    start = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    return time.perf_counter() - start


def part_iglp(rows: int, threads: int, seed: int = 0) -> dict:
    import polars as pl

    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.igl.learner import IGLP

    paths = stream_paths(rows)
    labels, n_train = _holdout_labels(rows)
    logs = drop_hidden_reward(pl.read_parquet(paths["logs"]))
    frame = ik_training_set(logs)
    train, test = frame[:n_train], frame[n_train:]
    optimiser_import = _warm_torch_optimiser()
    start, cpu = time.perf_counter(), time.process_time()
    model = IGLP(iglp_config(threads, seed=seed)).fit(train)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    chosen = model.predict(test)
    return {
        "learner": "iglp",
        "command": f"IGLP(iglp_config).fit (IK + policy), budget {BUDGET}",
        "train_events": n_train,
        "fit_seconds": seconds,
        "fit_cpu_seconds": cpu_seconds,
        "torch_optimiser_first_use_seconds": optimiser_import,
        "events_per_second": n_train / seconds,
        "holdout_true_reward_rate": float((chosen == labels).mean()),
        "holdout_events": int(labels.size),
        "ik_restart_validation_nll": [r.validation_nll for r in model.ik_restarts_],
        "ik_restart_epochs": [r.epochs for r in model.ik_restarts_],
        "ik_held_out_nll": model.ik_held_out_nll_,
        "ik_no_signal_nll": model.ik_no_signal_nll_,
        "seed": seed,
        "peak_rss_mib": _peak_rss_mib(),
    }


def part_iglp_big(rows: int, threads: int) -> dict:
    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.loading import load_logs
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.igl.learner import IGLP

    path = stream_paths(rows)["logs"]
    optimiser_import = _warm_torch_optimiser()
    start = time.perf_counter()
    logs = drop_hidden_reward(load_logs(path))
    loaded = time.perf_counter()
    frame = ik_training_set(logs)
    prepared, cpu = time.perf_counter(), time.process_time()
    IGLP(iglp_config(threads)).fit(frame)
    done = time.perf_counter()
    cpu_seconds = time.process_time() - cpu
    return {
        "learner": "iglp_full_path",
        "command": "load_logs -> ik_training_set -> IGLP.fit",
        "train_events": frame.height,
        "load_seconds": loaded - start,
        "sql_seconds": prepared - loaded,
        "fit_seconds": done - prepared,
        "fit_cpu_seconds": cpu_seconds,
        "total_seconds": done - start,
        "torch_optimiser_first_use_seconds": optimiser_import,
        "events_per_second": frame.height / (done - start),
        "fit_events_per_second": frame.height / (done - prepared),
        "peak_rss_mib": _peak_rss_mib(),
    }


COST_ROWS = 120_000
COST_FRESH = 30_000
HAND_ENGINEERED = {"none": 0.0, "click": 1.0, "like": 2.0, "dislike": -2.0}


def _production_log(rows: int, seed: int = 0):
    """(simulation, ik_training_set frame with action_probs, actions table)."""
    import polars as pl

    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.simulators import simulate_logs

    sim = simulate_logs("production", rows=rows, seed=seed)
    logs = drop_hidden_reward(pl.from_arrow(sim.logs))
    frame = ik_training_set(logs).join(logs.select("event_id", "action_probs"), on="event_id",
                                       how="left", maintain_order="left")
    return sim, frame, pl.from_arrow(sim.actions)


def _fresh_rates(sim, model, seed: int) -> dict:
    """Latent reward and feedback rates of ``model``'s greedy policy on fresh traffic."""
    import polars as pl

    from offline_rl.igl.experiments._common import rounds_frame
    from offline_rl.simulators import run_policy

    def policy(rounds):
        probs = model.predict_proba(rounds_frame(rounds), exploration="greedy")
        out = np.zeros((len(rounds), rounds.max_candidates))
        out[:, : probs.shape[1]] = probs
        return out

    played = pl.from_arrow(run_policy(sim.environment, policy, COST_FRESH, [seed, 2]))
    feedback = played["feedback"]
    return {"latent_reward": float(played["reward"].mean()),
            "negative_rate": float((played["reward"] < 0).mean()),
            **{f"{signal}_rate": float((feedback == signal).mean())
               for signal in ("click", "like", "dislike")}}


def part_cost(learner: str, threads: int, seed: int = 0) -> dict:
    """One timed fit on the 120k production-like log: 'iglp3' or 'bandit' (module docstring)."""
    from offline_rl.igl import IGLP, IGLPConfig, RewardBandit

    sim, frame, actions = _production_log(COST_ROWS, seed)
    config = IGLPConfig(states=3, negative_signals=("dislike",), max_threads=threads, seed=seed)
    optimiser_import = _warm_torch_optimiser()
    start, cpu = time.perf_counter(), time.process_time()
    if learner == "bandit":
        rewards = frame["feedback"].replace_strict(HAND_ENGINEERED, return_dtype=float).to_numpy()
        model = RewardBandit(config).fit(frame, rewards, actions=actions)
    else:
        model = IGLP(config).fit(frame, actions=actions)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    result = {"learner": learner, "train_events": frame.height, "fit_seconds": seconds,
              "fit_cpu_seconds": cpu_seconds, "torch_optimiser_first_use_seconds": optimiser_import,
              "peak_rss_mib": _peak_rss_mib(), **_fresh_rates(sim, model, seed)}
    if learner == "iglp3":
        result.update(ik_held_out_nll=model.ik_held_out_nll_, ik_no_signal_nll=model.ik_no_signal_nll_,
                      ik_attempts=[(r.fold, r.restart, r.epochs) for r in model.ik_restarts_],
                      alpha=model.alpha_)
    return result


def part_users(users: int, dense: bool, threads: int, steps: int = 30) -> dict:
    """Median wall time of one IK training step (4,096 rows) with ``users`` users."""
    import torch

    from offline_rl.igl import IGLPConfig
    from offline_rl.igl.batch import Vocabulary, action_feature_matrix, make_batch
    from offline_rl.igl.ik_model import IKTrainer, ik_net

    torch.set_num_threads(threads)
    _, frame, actions = _production_log(8192)
    rng = np.random.default_rng(0)
    frame = frame.with_columns(
        user_id=rng.integers(0, users, frame.height)).drop("action_probs")
    config = IGLPConfig(states=3, negative_signals=("dislike",), ik_batch_size=4096)
    user_ids = Vocabulary.of(range(users))
    feedback = Vocabulary.fit(frame["feedback"])
    action_ids = Vocabulary.fit(frame["candidate_actions"].explode())
    batch = make_batch(frame, users=user_ids, feedback=feedback, actions=action_ids)
    net = ik_net(config, num_users=user_ids.size, num_feedback=feedback.size,
                 num_actions=action_ids.size, context_dim=batch.context.shape[1],
                 action_features=action_feature_matrix(actions, action_ids))
    net.mark_known(batch.user, batch.feedback)
    if dense:  # the free user embedding of earlier releases: dense rows, dense Adam
        net.users.deviation = torch.nn.Embedding(user_ids.size, config.embedding_dim)
    trainer = IKTrainer(net, batch, batch_size=4096, learning_rate=0.03, weight_decay=1e-5,
                        prior_precision=config.user_prior_precision,
                        action_prior_precision=config.action_prior_precision, seed=0)
    times = []
    while len(times) < steps:
        start = time.perf_counter()
        trainer.run_epoch()  # 2 steps of 4,096 rows
        times.append((time.perf_counter() - start) / 2)
    return {"learner": f"ik_step_{'dense' if dense else 'sparse'}", "users": users,
            "step_ms_median": 1000 * float(np.median(times[3:])),
            "step_ms_all": [round(1000 * t, 1) for t in times],
            "optimisers": [type(o).__name__ for o in trainer.optimisers],
            "peak_rss_mib": _peak_rss_mib()}


#: The two logs of the signal suite: the production experiment's (200,000 uniform logged
#: events, 100 items, K = 10; IGL-P fits its first half, as the experiment does) and the
#: nightly's small size (20,000 events of the simulator's defaults: ~1,000 users, 500 items,
#: K = 20, its production logging policy; fitted whole from the ik_training_set, as the
#: nightly fits it, i.e. with importance weights and without ``action_probs``).
SIGNAL_LOGS = {
    "production": {"rows": 200_000, "fit_share": 0.5,
                   "options": {"n_items": 100, "n_candidates": 10, "logging": "uniform"}},
    "nightly": {"rows": 20_000, "fit_share": 1.0, "options": {}},
}


def _signal_frame(size: str, seed: int):
    """(ik_training_set rows IGL-P fits on, actions table) of one SIGNAL_LOGS log."""
    import polars as pl

    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.prepare import ik_training_set
    from offline_rl.simulators import simulate_logs

    spec = SIGNAL_LOGS[size]
    sim = simulate_logs("production", rows=spec["rows"], seed=seed, **spec["options"])
    frame = ik_training_set(drop_hidden_reward(pl.from_arrow(sim.logs)))
    return frame.head(int(frame.height * spec["fit_share"])), pl.from_arrow(sim.actions)


def part_signal(size: str, seed: int, threads: int, overrides: dict) -> dict:
    """One IGL-P(3) fit (CLI defaults, plus ``overrides``) on a SIGNAL_LOGS log: the
    out-of-fold IK NLL against the no-signal level, nothing read from the simulator's truth."""
    from offline_rl.igl import IGLP, IGLPConfig

    frame, actions = _signal_frame(size, seed)
    config = IGLPConfig(states=3, negative_signals=("dislike",), max_threads=threads, seed=seed,
                        **overrides)
    _warm_torch_optimiser()
    start, cpu = time.perf_counter(), time.process_time()
    model = IGLP(config)
    decoded = model.fit_decode(frame, actions=actions)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    users = frame.group_by("user_id").len()
    return {
        "learner": "signal", "size": size, "seed": seed, "overrides": overrides,
        "rows": frame.height, "users": users.height,
        "median_rows_per_user": float(users["len"].median()),
        "fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds,
        "ik_held_out_nll": model.ik_held_out_nll_, "ik_no_signal_nll": model.ik_no_signal_nll_,
        "gain": model.ik_no_signal_nll_ - model.ik_held_out_nll_,
        "found_signal": model.ik_found_signal_,
        "known_user_share": float(decoded["known_user"].mean()),
        "extreme_rate": float(decoded["is_extreme"].mean()),
        "alpha": model.alpha_,
        "ik_attempts": [(r.fold, r.restart, r.epochs, r.best_epoch) for r in model.ik_restarts_],
        "peak_rss_mib": _peak_rss_mib(),
    }


def _run_part(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"learner": args, "error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["cost", "users", "signal", "select", "vw", "all"],
                        default="all")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--part", choices=["vw_igl", "vw_cb", "iglp", "iglp_big", "cost", "users",
                                           "signal"], default=None)
    parser.add_argument("--size", choices=sorted(SIGNAL_LOGS), default="nightly",
                        help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--signal-seeds", default="0,1,2,3,4",
                        help="Seeds of the signal suite (logs and fits).")
    parser.add_argument("--signal-sizes", default="nightly,production",
                        help="Logs of the signal suite (nightly, production).")
    parser.add_argument("--select-seeds", default="100,101,102,103,104",
                        help="Seeds of the select suite: not the signal suite's, so the settings "
                             "are chosen on other logs than those they are reported on.")
    parser.add_argument("--select-grid", default=json.dumps(SELECT_GRID),
                        help="JSON list of IGLPConfig overrides compared by the select suite.")
    parser.add_argument("--learner", default="iglp3", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--dense", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--user-counts", default="1000,1000000,5000000",
                        help="Vocabulary sizes of the users suite.")
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--fit-seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--fit-seeds", default="",
                        help="Comma-separated IGL-P seeds for a robustness table (e.g. 0,1,2,3,4): "
                             "the trap must be survived on every seed, not only on seed 0.")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Rounds of the suite's learners, interleaved; the tables show each "
                             "learner's median run and the per-round time ratios are printed.")
    parser.add_argument("--ik-epochs", type=int, default=BUDGET["ik_epochs"])
    parser.add_argument("--ik-restarts", type=int, default=BUDGET["ik_restarts"])
    parser.add_argument("--policy-epochs", type=int, default=BUDGET["policy_epochs"])
    parser.add_argument("--ik-batch-size", type=int, default=BUDGET["ik_batch_size"])
    args = parser.parse_args()
    BUDGET.update(ik_epochs=args.ik_epochs, ik_restarts=args.ik_restarts,
                  policy_epochs=args.policy_epochs, ik_batch_size=args.ik_batch_size)
    budget_args = ["--ik-epochs", str(args.ik_epochs), "--ik-restarts", str(args.ik_restarts),
                   "--policy-epochs", str(args.policy_epochs),
                   "--ik-batch-size", str(args.ik_batch_size)]
    if args.part:
        if args.part in ("vw_igl", "vw_cb"):
            result = part_vw(args.rows, args.part[3:])
        elif args.part == "iglp":
            result = part_iglp(args.rows, args.threads, args.fit_seed)
        elif args.part == "cost":
            result = part_cost(args.learner, args.threads, args.fit_seed)
        elif args.part == "users":
            result = part_users(args.users, args.dense, args.threads)
        elif args.part == "signal":
            result = part_signal(args.size, args.fit_seed, args.threads, json.loads(args.overrides))
        else:
            result = part_iglp_big(args.rows, args.threads)
        print(json.dumps(result))
        return
    import torch

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({args.threads} threads), "
          f"date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    if args.suite in ("cost", "all"):
        suite_cost(args)
    if args.suite in ("users", "all"):
        suite_users(args)
    if args.suite in ("signal", "all"):
        suite_signal(args)
    if args.suite in ("select", "all"):
        suite_select(args)
    if args.suite in ("vw", "all"):
        suite_vw(args, budget_args)


def _median(runs: list[dict]) -> dict:
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    return {**sorted(good, key=lambda r: r["fit_seconds"])[len(good) // 2],
            "fit_seconds_all": [round(r["fit_seconds"], 1) for r in good]}


def suite_cost(args) -> None:
    """IGL-P(3) with the CLI defaults beside RewardBandit on the 120k production-like log."""
    runs: dict[str, list[dict]] = {"iglp3": [], "bandit": []}
    for _ in range(args.repeat):
        for learner in runs:
            runs[learner].append(_run_part(["--part", "cost", "--learner", learner,
                                            "--threads", str(args.threads)]))
            print(json.dumps(runs[learner][-1]), flush=True)
    ratios = [i["fit_seconds"] / b["fit_seconds"] for i, b in zip(runs["iglp3"], runs["bandit"], strict=True)
              if "error" not in i and "error" not in b]
    print(f"\nIGL-P(3) / RewardBandit wall-time ratio per round: {[round(x, 2) for x in ratios]}"
          + (f"; median {sorted(ratios)[len(ratios) // 2]:.2f}" if ratios else ""))
    print("| learner | events | wall s, median (runs) | CPU s | fresh latent reward | clicks | likes "
          "| dislikes | IK out-of-fold NLL / no-signal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for learner, rows in runs.items():
        r = _median(rows)
        if "error" in r:
            print(f"| {learner} | error | | | | | | | |")
            continue
        nll = (f"{r['ik_held_out_nll']:.4f} / {r['ik_no_signal_nll']:.4f}"
               if "ik_held_out_nll" in r else "–")
        print(f"| {learner} | {r['train_events']} | {r['fit_seconds']:.1f} ({', '.join(map(str, r['fit_seconds_all']))}) "
              f"| {r['fit_cpu_seconds']:.1f} | {r['latent_reward']:.4f} | {r['click_rate']:.4f} "
              f"| {r['like_rate']:.4f} | {r['dislike_rate']:.4f} | {nll} |")


def suite_users(args) -> None:
    """One IK training step against the number of users, sparse (now) and dense (before)."""
    print("\n| users | sparse step ms (SparseAdam) | dense step ms (Adam, earlier releases) |")
    print("|---|---|---|")
    for users in [int(x) for x in args.user_counts.split(",")]:
        cells = []
        for dense in (False, True):
            result = _run_part(["--part", "users", "--users", str(users), "--threads",
                                str(args.threads), *(["--dense"] if dense else [])])
            print(json.dumps(result), flush=True)
            cells.append("error" if "error" in result else f"{result['step_ms_median']:.0f}")
        print(f"| {users:,} | {cells[0]} | {cells[1]} |")


def _signal_runs(args, sizes: list[str], seeds: list[int], overrides: dict) -> list[dict]:
    runs = []
    for size in sizes:
        for seed in seeds:
            runs.append(_run_part(["--part", "signal", "--size", size, "--fit-seed", str(seed),
                                   "--threads", str(args.threads),
                                   "--overrides", json.dumps(overrides)]))
            print(json.dumps(runs[-1]), flush=True)
    return runs


def _min_median_max(values: list[float]) -> str:
    return f"{min(values):.4f} / {float(np.median(values)):.4f} / {max(values):.4f}"


def suite_signal(args) -> None:
    """Out-of-fold IK NLL against no-signal with the CLI defaults, per log and seed."""
    sizes = args.signal_sizes.split(",")
    seeds = [int(x) for x in args.signal_seeds.split(",")]
    runs = _signal_runs(args, sizes, seeds, {})
    print("\n| log | seed | rows | users | out-of-fold IK NLL | no-signal NLL | gain (nats) "
          "| signal found | rows of users the decoding model knew | extreme rate | alpha_ "
          "| fit wall s / CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        if "error" in r:
            print(f"| error | {r['learner']} |")
            continue
        print(f"| {r['size']} | {r['seed']} | {r['rows']:,} | {r['users']:,} "
              f"| {r['ik_held_out_nll']:.4f} | {r['ik_no_signal_nll']:.4f} | {r['gain']:.4f} "
              f"| {r['found_signal']} | {r['known_user_share']:.3f} | {r['extreme_rate']:.3f} "
              f"| {r['alpha']:.3f} | {r['fit_seconds']:.0f} / {r['fit_cpu_seconds']:.0f} |")
    for size in sizes:
        gains = [r["gain"] for r in runs if r.get("size") == size]
        if gains:
            print(f"{size}: gain min / median / max {_min_median_max(gains)} nats over "
                  f"{len(gains)} seeds")


#: Settings the select suite compares (IGLPConfig overrides of the CLI defaults).
SELECT_GRID = [
    {"user_prior_precision": 1e6},  # population only: every user reads as the population
    {"user_prior_precision": 30.0},
    {"user_prior_precision": 10.0},
    {"user_prior_precision": 3.0},
    {"user_prior_precision": 1.0},
    {"user_prior_precision": 0.3},
    {"embedding_dim": 4},
    {"embedding_dim": 8},
]


def suite_select(args) -> None:
    """Settings compared by out-of-fold IK likelihood on the nightly-size log (seeds apart
    from the signal suite's): the gain over no-signal of each, paired by seed."""
    seeds = [int(x) for x in args.select_seeds.split(",")]
    grid = json.loads(args.select_grid)
    table = {json.dumps(overrides): _signal_runs(args, ["nightly"], seeds, overrides)
             for overrides in grid}
    print("\n| setting | " + " | ".join(f"seed {s}" for s in seeds)
          + " | gain min / median / max | signal found |")
    print("|---|" + "---|" * (len(seeds) + 2))
    for key, runs in table.items():
        good = [r for r in runs if "error" not in r]
        cells = [f"{r['gain']:.4f}" if "error" not in r else "error" for r in runs]
        summary = _min_median_max([r["gain"] for r in good]) if good else "-"
        found = sum(bool(r["found_signal"]) for r in good)
        print(f"| {key} | " + " | ".join(cells) + f" | {summary} | {found} of {len(runs)} |")


def suite_vw(args, budget_args: list[str]) -> None:
    """IGL-P(2) beside Vowpal Wabbit on the Covertype stream."""
    started = time.perf_counter()
    make_stream(args.rows)
    print(f"stream ready ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    results = []
    parts = [part for part in ("vw_igl", "vw_cb", "iglp") if part not in args.skip]
    runs: dict[str, list[dict]] = {part: [] for part in parts}
    # rounds interleave the learners so that load drifts hit all of them alike
    for _ in range(args.repeat):
        for part in parts:
            runs[part].append(_run_part(["--part", part, "--rows", str(args.rows),
                                         "--threads", str(args.threads), *budget_args]))
            print(json.dumps(runs[part][-1]), flush=True)
    results = [_median(runs[part]) for part in parts]
    if args.repeat > 1 and all(p in runs for p in ("vw_igl", "iglp")):
        ratios = [i["fit_seconds"] / v["fit_seconds"]
                  for i, v in zip(runs["iglp"], runs["vw_igl"], strict=True)
                  if "error" not in i and "error" not in v]
        print(f"IGL-P / VW IGL wall-time ratio per round: {[round(x, 2) for x in ratios]}; "
              f"median {sorted(ratios)[len(ratios) // 2]:.2f}")
    seed_rows = []
    for seed in [int(x) for x in args.fit_seeds.split(",") if x.strip()]:
        seed_rows.append(_run_part(["--part", "iglp", "--rows", str(args.rows), "--threads",
                                    str(args.threads), "--fit-seed", str(seed), *budget_args]))
        print(json.dumps(seed_rows[-1]), flush=True)
    if "iglp_big" not in args.skip:
        make_stream(args.big_rows)
        results.append(_run_part(["--part", "iglp_big", "--rows", str(args.big_rows),
                                  "--threads", str(args.threads), *budget_args]))
        print(json.dumps(results[-1]), flush=True)
    print("| learner | train events | wall s | CPU s | events/s (wall) | holdout true-reward rate "
          "| peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['learner']} | error | | | | |")
            continue
        rate = r.get("holdout_true_reward_rate")
        print(f"| {r['learner']} | {r['train_events']} | "
              f"{r.get('total_seconds', r['fit_seconds']):.1f} | "
              f"{r.get('fit_cpu_seconds', float('nan')):.1f} | {r['train_events'] / r['fit_seconds']:.0f} | "
              f"{'' if rate is None else f'{rate:.3f}'} | {r['peak_rss_mib']:.0f} |"
              + (f" runs: {', '.join(str(x) for x in r['fit_seconds_all'])}"
                 if len(r.get("fit_seconds_all", [])) > 1 else ""))
    if seed_rows:
        print("\n| IGL-P seed | wall s | holdout true-reward rate | IK out-of-fold NLL / no-signal "
              "| IK epochs per attempt |")
        print("|---|---|---|---|---|")
        for r in seed_rows:
            print(f"| {r['seed']} | {r['fit_seconds']:.1f} | {r['holdout_true_reward_rate']:.3f} | "
                  f"{r['ik_held_out_nll']:.3f} / {r['ik_no_signal_nll']:.3f} | {r['ik_restart_epochs']} |")


if __name__ == "__main__":
    main()

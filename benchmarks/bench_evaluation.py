"""Evaluation benchmarks, side by side in one run: ours vs obp, ours vs scikit-learn AUC, 10M rows.

Run: ``.venv/bin/python benchmarks/bench_evaluation.py`` (``--quick`` for a smoke run).

1. Bootstrap, B = 1000, 1M logged rows, IPS + SNIPS + DR for 2 policies x 3 metrics:
   ours (one shared resample; default random blocks of events, and the exact row-level
   bootstrap) vs Open Bandit Pipeline's ``estimate_interval`` (one call per estimator x
   policy x metric; measured for one policy x metric and multiplied by 6).
2. AUC on 10M rows (with ties): ours vs ``sklearn.metrics.roc_auc_score``, same value.
3. The 10M-row bootstrap (same estimators, B = 1000) in a subprocess: wall time and peak RSS.
4. Real data: BTS's click rate estimated from the Open Bandit random logs vs BTS's own.

obp 0.5.7 pins Python < 3.11 and old dependencies, so it lives in its own environment
``benchmarks/.venv-obp``: a venv without pip whose site-packages point at the main venv
through a ``.pth`` file, with ``obp``, ``seaborn`` and ``pyyaml`` installed there with
``--no-deps`` (:func:`ensure_obp`). The main venv is never modified.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OBP_VENV = ROOT / "benchmarks" / ".venv-obp"
DATA = ROOT / "benchmarks" / ".data"
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def ensure_obp() -> tuple[Path | None, str]:
    """Create ``benchmarks/.venv-obp`` with obp (``--no-deps``) if missing; (python, note)."""
    python = OBP_VENV / "bin" / "python"
    check = [str(python), "-c", "import obp.ope, obp; print(obp.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "ok"
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(OBP_VENV)],
            check=True,
            capture_output=True,
        )
        site = OBP_VENV / SITE
        (site / "_main_venv.pth").write_text(str(Path(sys.prefix) / SITE) + "\n")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--ignore-requires-python",
                "--target",
                str(site),
                "obp==0.5.7",
                "seaborn",
                "pyyaml",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result = subprocess.run(check, capture_output=True, text=True)
        if result.returncode != 0:
            return None, f"obp does not import: {result.stderr.strip().splitlines()[-1]}"
        return python, "ok"
    except subprocess.CalledProcessError as error:
        return None, f"could not install obp: {(error.stderr or '').strip()[-300:]}"


def make_data(n: int, *, n_actions: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """A logged bandit data set with full candidate distributions (obp needs them)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, n_actions)).astype(np.float64)
    logging = np.exp(0.5 * logits)
    logging /= logging.sum(axis=1, keepdims=True)
    # inverse-CDF sampling of the logged action, vectorised
    action = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    action = np.minimum(action, n_actions - 1)
    rows = np.arange(n)
    data = {"action": action, "pscore": logging[rows, action]}
    for j, temperature in enumerate((1.0, 2.0)):
        dist = np.exp(temperature * logits)
        dist /= dist.sum(axis=1, keepdims=True)
        data[f"dist{j}"] = dist
    for m, base in enumerate((0.05, 0.02, 0.01)):
        truth = base * (1 + 0.5 * np.tanh(logits))
        data[f"reward{m}"] = (rng.random(n) < truth[rows, action]).astype(np.float64)
        data[f"qhat{m}"] = np.clip(truth + rng.normal(scale=0.002, size=truth.shape), 0, 1)
    return data


def our_inputs(data: dict[str, np.ndarray]):
    from offline_rl.evaluation import RewardModel

    rows = np.arange(data["action"].shape[0])
    policies = {f"pi{j}": data[f"dist{j}"][rows, data["action"]] for j in range(2)}
    rewards = {f"metric{m}": data[f"reward{m}"] for m in range(3)}
    models = {
        f"metric{m}": RewardModel(
            logged=data[f"qhat{m}"][rows, data["action"]],
            under_policy={
                f"pi{j}": np.einsum("ij,ij->i", data[f"dist{j}"], data[f"qhat{m}"])
                for j in range(2)
            },
        )
        for m in range(3)
    }
    return policies, rewards, models


def run_ours(data, *, max_units, replicates) -> tuple[float, object]:
    from offline_rl.evaluation import EvaluationConfig, evaluate_arrays

    policies, rewards, models = our_inputs(data)
    config = EvaluationConfig(
        estimators=("ips", "snips", "dr"), n_replicates=replicates, max_units=max_units
    )
    started = time.perf_counter()
    result = evaluate_arrays(
        propensity=data["pscore"],
        policies=policies,
        rewards=rewards,
        reward_models=models,
        config=config,
    )
    return time.perf_counter() - started, result


OBP_SCRIPT = r"""
import json, sys, time
import numpy as np
from obp.ope import InverseProbabilityWeighting, SelfNormalizedInverseProbabilityWeighting, DoublyRobust
data = np.load(sys.argv[1])
replicates = int(sys.argv[2])
action, pscore, reward = data["action"], data["pscore"], data["reward0"]
dist = data["dist0"][:, :, None]
qhat = data["qhat0"][:, :, None]
out = {}
for name, estimator, extra in (
    ("ips", InverseProbabilityWeighting(), {}),
    ("snips", SelfNormalizedInverseProbabilityWeighting(), {}),
    ("dr", DoublyRobust(), {"estimated_rewards_by_reg_model": qhat}),
):
    start = time.perf_counter()
    interval = estimator.estimate_interval(reward=reward, action=action, pscore=pscore, action_dist=dist,
        n_bootstrap_samples=replicates, random_state=0, **extra)
    seconds = time.perf_counter() - start
    point = estimator.estimate_policy_value(reward=reward, action=action, pscore=pscore, action_dist=dist, **extra)
    values = list(interval.values())
    out[name] = {"seconds": seconds, "point": float(point), "boot_mean": float(values[0]), "lower": float(values[1]), "upper": float(values[2])}
print(json.dumps(out))
"""


def run_obp(python: Path, data, replicates: int) -> dict:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "obp_input.npz"
    np.savez(
        path,
        action=data["action"],
        pscore=data["pscore"],
        reward0=data["reward0"],
        dist0=data["dist0"],
        qhat0=data["qhat0"],
    )
    result = subprocess.run(
        [str(python), "-c", OBP_SCRIPT, str(path), str(replicates)], capture_output=True, text=True
    )
    path.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-800:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_auc(n: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from offline_rl.evaluation import roc_auc

    rng = np.random.default_rng(1)
    labels = rng.random(n) < 0.1
    scores = np.round(rng.random(n) * 0.5 + 0.2 * labels, 4)  # ~7,000 distinct values: ties
    out = {}
    for name, weights in (("unweighted", None), ("weighted", rng.uniform(0.5, 2.0, n))):
        start = time.perf_counter()
        ours = roc_auc(labels, scores, sample_weight=weights)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = roc_auc_score(labels, scores, sample_weight=weights)
        theirs_s = time.perf_counter() - start
        out[name] = {
            "ours_s": ours_s,
            "sklearn_s": theirs_s,
            "ours": ours,
            "sklearn": float(theirs),
        }
    return out


TEN_M_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_evaluation import make_data, our_inputs
from offline_rl.evaluation import EvaluationConfig, RewardModel, evaluate_arrays
n = int(sys.argv[2])
start = time.perf_counter()
# preallocated input vectors, filled 1M rows at a time (no concatenation garbage)
pscore = np.empty(n)
policies = {f"pi{j}": np.empty(n) for j in range(2)}
rewards = {f"metric{m}": np.empty(n) for m in range(3)}
models = {k: RewardModel(logged=np.empty(n), under_policy={j: np.empty(n) for j in policies}) for k in rewards}
for seed, lo in enumerate(range(0, n, 1_000_000)):
    hi = min(n, lo + 1_000_000)
    data = make_data(hi - lo, n_actions=4, seed=seed)
    chunk_policies, chunk_rewards, chunk_models = our_inputs(data)
    pscore[lo:hi] = data["pscore"]
    for k in policies:
        policies[k][lo:hi] = chunk_policies[k]
    for k in rewards:
        rewards[k][lo:hi] = chunk_rewards[k]
        models[k].logged[lo:hi] = chunk_models[k].logged
        for j in policies:
            models[k].under_policy[j][lo:hi] = chunk_models[k].under_policy[j]
    del data, chunk_policies, chunk_rewards, chunk_models
generate = time.perf_counter() - start
inputs_gib = 15 * n * 8 / 1024**3
import ctypes, gc
gc.collect()
try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed generator memory back to the OS
except OSError:
    pass
inputs_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024**2
try:  # reset the peak (VmHWM) so that it measures the evaluation alone
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    reset = True
except OSError:
    reset = False
before_rss = status("VmRSS:")
config = EvaluationConfig(estimators=("ips", "snips", "dr"), n_replicates=1000, max_units=65536)
start = time.perf_counter()
result = evaluate_arrays(propensity=pscore, policies=policies, rewards=rewards, reward_models=models, config=config)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
evaluation_peak = status("VmHWM:") if reset else None
lift = result.lift().filter(estimator="snips").row(0, named=True)
print(json.dumps({"seconds": seconds, "generate_s": generate, "inputs_peak_rss_gib": inputs_rss, "peak_rss_gib": peak,
                  "rss_before_gib": before_rss, "inputs_gib": inputs_gib, "evaluation_peak_rss_gib": evaluation_peak,
                  "lift": [lift["lower"], lift["point"], lift["upper"]]}))
"""


def bench_10m(n: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", TEN_M_SCRIPT, str(ROOT), str(n)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-800:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--only",
        choices=["bootstrap", "auc", "10m", "obd"],
        action="append",
        help="run only these sections (repeatable); default all",
    )
    args = parser.parse_args()
    n_boot, n_auc, n_big, replicates = (
        (50_000, 200_000, 200_000, 200) if args.quick else (1_000_000, 10_000_000, 10_000_000, 1000)
    )

    cpus = os.cpu_count()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"# Evaluation benchmarks — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {cpus} cores ({model}), Python {platform.python_version()}\n"
    )

    sections = set(args.only or ["bootstrap", "auc", "10m", "obd"])
    if "bootstrap" in sections:
        run_ours(
            make_data(2_000), max_units=None, replicates=10
        )  # warm-up: imports, first-call costs
        data = make_data(n_boot)
        blocks_s, blocked = run_ours(data, max_units=65536, replicates=replicates)
        exact_s, exact = run_ours(data, max_units=None, replicates=replicates)
        python, note = ensure_obp()
        obp = run_obp(python, data, replicates) if python is not None else None

        print(
            f"## Bootstrap: B = {replicates}, {n_boot:,} rows, IPS + SNIPS + DR x 2 policies x 3 metrics (18 estimates + 18 lifts)\n"
        )
        print("| implementation | wall time (s) | vs obp (18 estimates) |")
        print("|---|---:|---:|")
        obp_total = None
        if obp:
            obp_total = 6 * sum(v["seconds"] for v in obp.values())
        for label, seconds in (
            ("ours, default (65,536 random blocks, Poisson)", blocks_s),
            ("ours, exact row-level Poisson bootstrap", exact_s),
        ):
            ratio = f"{obp_total / seconds:.0f}x faster" if obp_total else "n/a"
            print(f"| {label} | {seconds:.2f} | {ratio} |")
        if obp:
            for name, value in obp.items():
                print(
                    f"| obp 0.5.7 `estimate_interval`, {name.upper()}, 1 policy x 1 metric | {value['seconds']:.2f} | |"
                )
            print(f"| obp, all 18 (measured per estimator x 6) | {obp_total:.1f} | 1x |")
        else:
            print(f"| obp | not run: {note} | |")
        print()
        frame = blocked.estimates.filter(policy="pi0", metric="metric0", quantity="value")
        exact_frame = exact.estimates.filter(policy="pi0", metric="metric0", quantity="value")
        print("Same policy x metric, point and 95% interval:\n")
        print(
            "| estimator | ours point | ours interval (blocks) | ours interval (exact) | obp point | obp interval | obp bootstrap mean |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row, exact_row in zip(
            frame.iter_rows(named=True), exact_frame.iter_rows(named=True), strict=True
        ):
            o = obp.get(row["estimator"]) if obp else None
            obp_cells = (
                f"{o['point']:.6f} | [{o['lower']:.6f}, {o['upper']:.6f}] | {o['boot_mean']:.6f}"
                if o
                else "n/a | n/a | n/a"
            )
            print(
                f"| {row['estimator']} | {row['point']:.6f} | [{row['lower']:.6f}, {row['upper']:.6f}] | [{exact_row['lower']:.6f}, {exact_row['upper']:.6f}] | {obp_cells} |"
            )
        print()

    if "auc" in sections:
        auc = bench_auc(n_auc)
        print(f"## AUC, {n_auc:,} rows, ~7,000 distinct scores (ties)\n")
        print("| case | ours (s) | scikit-learn (s) | speed-up | |ours - sklearn| |")
        print("|---|---:|---:|---:|---:|")
        for name, value in auc.items():
            print(
                f"| {name} | {value['ours_s']:.3f} | {value['sklearn_s']:.3f} | {value['sklearn_s'] / value['ours_s']:.1f}x | {abs(value['ours'] - value['sklearn']):.1e} |"
            )
        print()

    if "10m" in sections:
        big = bench_10m(n_big)
        print(
            f"## Bootstrap over {n_big:,} rows (B = 1000, IPS + SNIPS + DR x 2 policies x 3 metrics, chunked, Poisson, blocks)\n"
        )
        print(
            f"- wall time {big['seconds']:.1f} s (after {big['generate_s']:.1f} s generating the data)"
        )
        print(
            f"- input vectors (15 float64 columns): {big['inputs_gib']:.2f} GiB; peak RSS while "
            f"generating them {big['inputs_peak_rss_gib']:.2f} GiB (`resource.getrusage`)"
        )
        if big["evaluation_peak_rss_gib"] is not None:
            print(
                f"- evaluation alone (peak reset through /proc/self/clear_refs): RSS "
                f"{big['rss_before_gib']:.2f} GiB before, peak {big['evaluation_peak_rss_gib']:.2f} GiB "
                f"during, i.e. {big['evaluation_peak_rss_gib'] - big['rss_before_gib']:.2f} GiB of working memory"
            )
        else:
            print(f"- peak RSS of the whole process {big['peak_rss_gib']:.2f} GiB")
        lower, point, upper = big["lift"]
        print(
            f"- example: SNIPS lift of pi0 on metric0 = {point:+.4f} [{lower:+.4f}, {upper:+.4f}]\n"
        )

    if "obd" in sections:
        from offline_rl.evaluation.open_bandit_check import bts_from_random_check

        obd = ROOT / "datasets" / "open-bandit"
        if (obd / "bts" / "all.csv.gz").exists():
            check = bts_from_random_check(obd)
            print(
                "## Real data: Bernoulli TS click rate on the Open Bandit sample (10k rows per campaign)\n"
            )
            print("| quantity | value | standard error |")
            print("|---|---:|---:|")
            print(
                f"| BTS on-policy click rate (bts logs) | {check['bts_on_policy']:.5f} | {check['bts_on_policy_se']:.5f} |"
            )
            print(f"| IPS from the random logs | {check['ips']:.5f} | {check['ips_se']:.5f} |")
            print(
                f"| SNIPS from the random logs | {check['snips']:.5f} | {check['snips_se']:.5f} |"
            )
            print(f"| random policy's own click rate | {check['random_on_policy']:.5f} | |")
            print(
                f"\nESS {check['ess']:.0f} of {check['n_random']}, max weight {check['max_weight']:.2f}."
            )
    print(
        f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB"
    )


if __name__ == "__main__":
    main()

"""The nightly job end to end at 1M events: wall time and peak RSS of every step.

One day of the production simulator (default ``ProductionConfig``: 1,000 users, 500 items,
K = 20, the softmax logging policy), 1,000,000 events in one daily partition, run through
``run_nightly`` with the default ``NightlyConfig`` (hold-out: the latest 20% of events;
IGL-P(3) with 2 IK restarts x 30 epochs; QR-IQL 250 steps; 1,000 bootstrap replicates; one
torch thread). The logs are simulated once in a separate process and cached under
``benchmarks/.data``; the measured run is a fresh process.

Per step: wall seconds, CPU seconds and the peak resident set size while the step ran (a
thread samples ``/proc/self/statm`` every 20 ms; the process-wide ``ru_maxrss`` is printed
too). The report (``write_report``, inside the ``evaluate`` step) is timed on its own and
subtracted from ``evaluate``.

Usage: python benchmarks/bench_nightly.py [--events 1000000] [--out DIR]
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
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"
DAY_SECONDS = 86_400.0
STEPS = ("validate", "prepare", "fit_igl", "fit_qriql", "evaluate")


def generate(events: int, folder: Path) -> Path:
    """One day of production-simulator logs in ``folder/date=2024-01-01/part-0.parquet``."""
    import pyarrow.parquet as pq

    from offline_rl.simulators import simulate_logs

    target = folder / "date=2024-01-01" / "part-0.parquet"
    if target.exists():
        return folder
    simulation = simulate_logs("production", rows=events, seed=0, seconds_between_events=0.9 * DAY_SECONDS / events)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(simulation.logs.drop(["reward"]), target.with_suffix(".tmp"), compression="zstd")
    os.replace(target.with_suffix(".tmp"), target)
    return folder


class PeakRss:
    """Samples the process's resident set size; ``peak`` since the last ``reset``."""

    def __init__(self, interval: float = 0.02) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _now(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._now())
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak = self._now()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(logs: Path, runs: Path) -> dict:
    """Run the nightly once on ``logs`` with every step wrapped; return the figures."""
    from offline_rl.evaluation import report as report_module
    from offline_rl.nightly import pipeline
    from offline_rl.nightly.config import NightlyConfig

    sampler = PeakRss()
    figures: dict[str, dict[str, float]] = {}

    def wrap(name, function):
        def timed(*args, **kwargs):
            sampler.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                figures[name] = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                                 "peak_rss_mib": max(sampler.peak, sampler._now()) / 2**20}
        return timed

    for step in STEPS:
        setattr(pipeline, f"_{step}", wrap(step, getattr(pipeline, f"_{step}")))
    write_report = report_module.write_report
    report_module.write_report = lambda *a, **k: _time_report(figures, write_report, *a, **k)
    config = NightlyConfig(logs=str(logs), date="2024-01-01", runs_dir=str(runs))
    started = time.perf_counter()
    result = pipeline.run_nightly(config, quiet=True)
    total = time.perf_counter() - started
    sampler.stop()
    if "report" in figures:
        figures["evaluate"]["seconds"] -= figures["report"]["seconds"]
        figures["evaluate"]["cpu_seconds"] -= figures["report"]["cpu_seconds"]
    return {
        "steps": figures,
        "total_seconds": total,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "split": result.manifest["split"],
        "decision": result.decision,
        "rows": result.manifest["rows"],
    }


def _time_report(figures, write_report, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return write_report(*args, **kwargs)
    finally:
        figures["report"] = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                             "peak_rss_mib": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", help="Runs folder (default: a temporary folder, removed afterwards).")
    parser.add_argument("--child", metavar="LOGS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), Path(args.out))))
        return
    logs = DATA / f"nightly-{args.events}"
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"import bench_nightly as b; from pathlib import Path; b.generate({args.events}, Path({str(logs)!r}))"],
                   check=True)
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.out) if args.out else Path(scratch) / "runs"
        load = os.getloadavg()
        child = subprocess.run([sys.executable, __file__, "--child", str(logs), "--out", str(runs)],
                               check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        after = os.getloadavg()
    print(f"nightly end to end, {args.events:,} events ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"load average before {load[0]:.1f}, after {after[0]:.1f})")
    print(f"hold-out: {result['split']}")
    print(f"decision: {result['decision']}")
    print("| step | wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name in (*STEPS[:4], "evaluate", "report"):
        step = result["steps"].get(name)
        if step:
            label = "evaluate (without the report)" if name == "evaluate" else name
            rss = "n/a (in evaluate)" if name == "report" else f"{step['peak_rss_mib']:,.0f}"
            print(f"| {label} | {step['seconds']:.1f} | {step['cpu_seconds']:.1f} | {rss} |")
    print(f"| **total** | **{result['total_seconds']:.1f}** | | **{result['ru_maxrss_mib']:,.0f}** (ru_maxrss) |")


if __name__ == "__main__":
    main()

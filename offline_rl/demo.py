"""``make demo``: the nightly job, night after night, on the logs shipped in ``datasets/demo``.

The shipped logs are five days of the production-like simulator (IGL-P §4.3: clicks, likes,
dislikes; clicker, liker and quiet users) logged the way a production team would log them: a
contextual bandit trained on a hand-engineered reward of the feedback (``click + 2 like - 2
dislike``), a ridge regression on the published context and item features refitted every day
on everything logged so far, shown epsilon-greedily with epsilon = 0.15
(``ProductionConfig(logging="bandit")``). Its first fit uses one day of uniform exploration
that is simulated but not shipped. Logs are partitioned by date the way a logging pipeline
writes them.

The demo runs the nightly job for each day in order. Every night reads every day so far,
fits on all but the last (the first night, with one day, on its first 80% of events by time)
and evaluates on the last; nights two to five warm-start from the night before. Each night's
summary (which opens with its decision) is logged (logger ``offline_rl.demo``; ``main``
shows the log), then a table of the nights' decisions and where ``runs/current`` points.

Regenerate the shipped logs with ``python -m offline_rl.demo --write-logs datasets/demo``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import time
from pathlib import Path

import click
import polars as pl

from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text

# Named explicitly: run as `python -m offline_rl.demo`, __name__ is "__main__", which is
# outside the "offline_rl" logger tree that main() shows.
logger = logging.getLogger("offline_rl.demo")

DEMO_SEED = 7
DEMO_DAYS = 5
EVENTS_PER_DAY = 8640  # one event every 10 s, the simulator's pace
#: The logging bandit's exploration share, fixed before any demo run was looked at.
DEMO_EPSILON = 0.15


def shipped_logs() -> Path:
    """``datasets/demo/production`` of the repository."""
    return Path(__file__).resolve().parents[1] / "datasets" / "demo" / "production"


def write_demo_logs(out: str | Path) -> list[Path]:
    """Simulate the demo's production-like logs and write one Parquet partition per day.

    The simulation runs one uniform warm-up day and ``DEMO_DAYS`` bandit days; the warm-up
    day's events, and any event dated outside the ``DEMO_DAYS`` days that follow it, are
    not written.
    """
    import json

    import pyarrow.parquet as pq

    from offline_rl.simulators import simulate_logs

    out = Path(out)
    # A 100-item catalogue with 10 candidates per request, as in the production experiment
    # (docs/igl.md): learnable from a few days of events on two cores.
    simulation = simulate_logs(
        "production", rows=(DEMO_DAYS + 1) * EVENTS_PER_DAY, seed=DEMO_SEED, n_users=100, n_items=100,
        n_candidates=10, logging="bandit", exploration=DEMO_EPSILON, refresh_rounds=EVENTS_PER_DAY,
    )
    logs = pl.from_arrow(simulation.logs).with_columns(pl.col("ts").dt.date().alias("__day"))
    first_day = logs["__day"].min() + dt.timedelta(days=1)
    days = [first_day + dt.timedelta(days=offset) for offset in range(DEMO_DAYS)]
    logs = logs.filter(pl.col("event_id") >= EVENTS_PER_DAY, pl.col("__day").is_in(days))
    written = []
    metadata = simulation.logs.schema.metadata
    for day in days:
        part = logs.filter(pl.col("__day") == day).drop("__day").to_arrow()
        part = part.replace_schema_metadata(metadata)
        path = out / "production" / f"date={day.isoformat()}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path, compression="zstd")
        written.append(path)
    if simulation.actions is not None:
        atomic_write_parquet(simulation.actions, out / "production-actions.parquet")
    atomic_write_text(out / "production-truth.json", json.dumps(simulation.truth, indent=2, default=str) + "\n")
    # Segments for the report's fairness bars: the users' communication styles. A real
    # deployment would use country, platform or tenure; here the simulator's truth stands in.
    styles = simulation.truth["user_style"]
    segments = pl.DataFrame({"user_id": list(range(len(styles))), "segment": styles})
    atomic_write_parquet(segments, out / "production-user-segments.parquet")
    return written


def run_demo(out: str | Path, *, quiet: bool = False) -> list:
    """Run the nightly job for every shipped day; return each night's result, in order."""
    from offline_rl.nightly.config import NightlyConfig
    from offline_rl.nightly.partitions import select_partition
    from offline_rl.nightly.pipeline import run_nightly

    logs = shipped_logs()
    if not logs.is_dir():
        raise FileNotFoundError(f"the demo logs are missing: {logs} (regenerate: python -m offline_rl.demo --write-logs datasets/demo)")
    runs = Path(out) / "runs"
    dates = select_partition(str(logs), "latest").available_dates
    results = []
    for date in dates:
        # Each night reads every day so far (up to five), IGL-P(3) with `dislike` as the
        # definitely-negative oracle and alpha = 0.25 as in the production experiment; every
        # other setting, the promotion rule's included, is the nightly default.
        config = NightlyConfig(
            logs=str(logs), date=date, runs_dir=str(runs), seed=DEMO_SEED, window_days=DEMO_DAYS, alpha=0.25,
            segments=str(logs.parent / "production-user-segments.parquet"),
            actions=str(logs.parent / "production-actions.parquet"),
        )
        result = run_nightly(config, quiet=quiet)
        logger.info("%s\n", result.summary())
        results.append(result)
    return results


def nights_table(results: list) -> str:
    """One line per night: its date, decision, and where ``runs/current`` pointed after it."""
    lines = [f"{'night':<12} {'decision':<10} runs/current"]
    for result in results:
        lines.append(f"{result.date:<12} {(result.decision or '-'):<10} {result.current or '(none)'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from offline_rl.cli import library_log

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-output", help="Folder for the demo's runs (default: demo-output).")
    parser.add_argument("--write-logs", metavar="DIR", help="Regenerate the shipped demo logs into DIR and exit.")
    parser.add_argument("--clean", action="store_true", help="Remove earlier demo runs first.")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.write_logs:
        for path in write_demo_logs(args.write_logs):
            click.echo(path)
        return 0
    if args.clean:
        shutil.rmtree(args.out, ignore_errors=True)
    started = time.perf_counter()
    try:
        with library_log(err=False):
            results = run_demo(args.out, quiet=args.quiet)
    except (ValueError, FileNotFoundError) as error:
        click.echo(f"error: {error}", err=True)
        return 2
    minutes = (time.perf_counter() - started) / 60
    last = results[-1]
    click.echo(nights_table(results))
    click.echo(f"\ndemo finished in {minutes:.1f} min ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
    click.echo(f"open the last report: {last.report_path.resolve()}")
    run = f"current --runs {last.run_dir.parent}" if last.current else str(last.run_dir)
    click.echo(f"ask questions:        .venv/bin/offline-rl sql --run {run} --list")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make demo``: the nightly job, night after night, on the logs shipped in ``datasets/demo``.

The shipped logs are three days of the production-like simulator (IGL-P §4.3: clicks, likes,
dislikes, a logging policy built on a hand-engineered reward), partitioned by date the way a
logging pipeline writes them. The demo runs the nightly job for each day in order, so the
second and third nights warm-start from the night before, then says where the report is.
Each night's summary is logged (logger ``offline_rl.demo``); ``main`` shows the log.

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
DEMO_DAYS = 3
EVENTS_PER_DAY = 8640  # one event every 10 s, the simulator's pace


def shipped_logs() -> Path:
    """``datasets/demo/production`` of the repository."""
    return Path(__file__).resolve().parents[1] / "datasets" / "demo" / "production"


def write_demo_logs(out: str | Path) -> list[Path]:
    """Simulate the demo's production-like logs and write one Parquet partition per day."""
    import json

    import pyarrow.parquet as pq

    from offline_rl.simulators import simulate_logs

    out = Path(out)
    # A 100-item catalogue with 10 candidates per request, as in the production experiment
    # (docs/igl.md): learnable from a few days of events on two cores.
    simulation = simulate_logs(
        "production", rows=DEMO_DAYS * EVENTS_PER_DAY, seed=DEMO_SEED, n_users=100, n_items=100, n_candidates=10
    )
    logs = pl.from_arrow(simulation.logs).with_columns(pl.col("ts").dt.date().alias("__day"))
    written = []
    metadata = simulation.logs.schema.metadata
    for day in sorted(logs["__day"].unique().to_list())[:DEMO_DAYS]:
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


def run_demo(out: str | Path, *, quiet: bool = False) -> Path:
    """Run the nightly job for every shipped day; return the newest report's path."""
    from offline_rl.nightly.config import NightlyConfig
    from offline_rl.nightly.partitions import select_partition
    from offline_rl.nightly.pipeline import run_nightly

    logs = shipped_logs()
    if not logs.is_dir():
        raise FileNotFoundError(f"the demo logs are missing: {logs} (regenerate: python -m offline_rl.demo --write-logs datasets/demo)")
    runs = Path(out) / "runs"
    dates = select_partition(str(logs), "latest").available_dates
    result = None
    for date in dates:
        # Each night trains on every day so far (up to three), IGL-P(3) with `dislike` as the
        # definitely-negative oracle and alpha = 0.25 as in the production experiment.
        config = NightlyConfig(
            logs=str(logs), date=date, runs_dir=str(runs), seed=DEMO_SEED, window_days=DEMO_DAYS, alpha=0.25,
            segments=str(logs.parent / "production-user-segments.parquet"),
            actions=str(logs.parent / "production-actions.parquet"),
        )
        result = run_nightly(config, quiet=quiet)
        logger.info("%s", result.summary())
    assert result is not None
    return result.report_path


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
            report = run_demo(args.out, quiet=args.quiet)
    except (ValueError, FileNotFoundError) as error:
        click.echo(f"error: {error}", err=True)
        return 2
    minutes = (time.perf_counter() - started) / 60
    click.echo(f"\ndemo finished in {minutes:.1f} min ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
    click.echo(f"open the report: {report.resolve()}")
    click.echo(f"ask questions:   .venv/bin/offline-rl sql --run {report.parent} --list")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

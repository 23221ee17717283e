"""``offline-rl prepare LOGS --out DIR``."""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.config import field_help
from offline_rl.data.engines import ENGINES, sql_engine
from offline_rl.data.prepare import (
    DEFAULT_NEGATIVE_SIGNALS,
    DEFAULT_POSITIVE_SIGNALS,
    PrepareConfig,
)
from offline_rl.data.prepare import prepare as run_prepare

_HELP = field_help(PrepareConfig)


@click.command()
@click.argument("logs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--max-weight", type=float, default=None, help=_HELP["max_weight"])
@click.option("--session-gap", "session_gap_seconds", type=float, default=PrepareConfig.session_gap_seconds,
              show_default=True, help=_HELP["session_gap_seconds"])
@click.option("--history-length", type=int, default=PrepareConfig.history_length, show_default=True,
              help=_HELP["history_length"])
@click.option("--negative-signals", default=",".join(DEFAULT_NEGATIVE_SIGNALS), show_default=True,
              help=_HELP["negative_signals"] + " Comma-separated.")
@click.option("--positive-signals", default=",".join(DEFAULT_POSITIVE_SIGNALS), show_default=True,
              help=_HELP["positive_signals"] + " Comma-separated.")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="duckdb", show_default=True,
              help="SQL engine of the jobs: duckdb (this process) or spark (pip install 'offline-rl[spark]').")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master URL with --engine spark (default local[2]; e.g. spark://host:7077, yarn).")
@vocabulary_option
def prepare(logs, out_dir, max_weight, session_gap_seconds, history_length, negative_signals, positive_signals,
            engine, spark_master, vocabulary) -> None:
    """Validate LOGS and write ik_training_set.parquet and user_trajectories.parquet to --out."""
    config = PrepareConfig(
        max_weight=max_weight,
        session_gap_seconds=session_gap_seconds,
        history_length=history_length,
        negative_signals=tuple(s.strip() for s in negative_signals.split(",") if s.strip()),
        positive_signals=tuple(s.strip() for s in positive_signals.split(",") if s.strip()),
    )
    result = run_prepare(logs, out_dir, config=config, vocabulary=vocabulary,
                         engine=sql_engine(engine, spark_master=spark_master))
    for mart, path in result.outputs.items():
        click.echo(f"{mart}: {result.rows[mart]} rows -> {path}")

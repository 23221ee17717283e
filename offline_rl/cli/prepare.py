"""``offline-rl prepare LOGS --out DIR``."""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.data.prepare import DEFAULT_NEGATIVE_SIGNALS, PrepareConfig
from offline_rl.data.prepare import prepare as run_prepare


@click.command()
@click.argument("logs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--max-weight", type=float, default=None, help="Clip IK importance weights 1/(K·P) at this value.")
@click.option("--session-gap", "session_gap_seconds", type=float, default=1800.0, show_default=True,
              help="Seconds of inactivity that start a new session.")
@click.option("--history-length", type=int, default=10, show_default=True,
              help="Earlier steps of the session kept in a trajectory state.")
@click.option("--negative-signals", default=",".join(DEFAULT_NEGATIVE_SIGNALS), show_default=True,
              help="Signals that count as a negative response in trajectories.")
@vocabulary_option
def prepare(logs, out_dir, max_weight, session_gap_seconds, history_length, negative_signals, vocabulary) -> None:
    """Validate LOGS and write ik_training_set.parquet and user_trajectories.parquet to --out."""
    config = PrepareConfig(
        max_weight=max_weight,
        session_gap_seconds=session_gap_seconds,
        history_length=history_length,
        negative_signals=tuple(s.strip() for s in negative_signals.split(",") if s.strip()),
    )
    result = run_prepare(logs, out_dir, config=config, vocabulary=vocabulary)
    for mart, path in result.outputs.items():
        click.echo(f"{mart}: {result.rows[mart]} rows -> {path}")

"""``offline-rl validate LOGS``."""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.data.loading import validate_logs


@click.command()
@click.argument("logs")
@vocabulary_option
def validate(logs: str, vocabulary: tuple[str, ...] | None) -> None:
    """Check LOGS (Parquet file, glob, Hive folder, or CSV) against the canonical schema.

    Prints one summary line and exits 0 when valid; prints the first rule broken (file,
    column, row, value, expectation) and exits 2 otherwise. Memory stays bounded: the logs
    are checked batch by batch.
    """
    click.echo(validate_logs(logs, vocabulary=vocabulary).line())

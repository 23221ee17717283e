"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click


def _parse_vocabulary(ctx, param, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        words = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        words = [word.strip() for word in value.split(",")]
    words = [word for word in words if word]
    if not words:
        raise click.BadParameter("the vocabulary is empty", ctx=ctx, param=param)
    return tuple(words)


vocabulary_option = click.option(
    "--vocabulary",
    callback=_parse_vocabulary,
    default=None,
    metavar="SIGNALS",
    help=(
        "Allowed feedback signals: comma-separated, or a file with one per line. "
        "Default: what the Parquet files declare, else the built-in vocabulary."
    ),
)

"""``offline-rl score MODEL LOGS --out FILE``.

Argument plumbing over :func:`offline_rl.igl.scoring.score_to_file`: every decision of LOGS
(validated; no feedback, propensity or logged action needed) scored by the IGL-P policy of
MODEL (a ``fit-igl --out`` folder, a nightly run folder ``runs/<date>`` or ``runs/current``),
one row per candidate (``event_id``, ``action``, ``probability``, ``greedy``), written
atomically to FILE (Parquet).
Bad input: one message, exit code 2, nothing written.
"""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option


@click.command()
@click.argument("model", type=click.Path(file_okay=False))
@click.argument("logs")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False),
              help="Parquet file for the scores (event_id, action, probability, greedy).")
@vocabulary_option
def score(model, logs, out_file, vocabulary) -> None:
    """Score every decision of LOGS with the IGL-P policy in MODEL; write one row per candidate.

    MODEL is a fit-igl --out folder or a nightly run folder (runs/<date> or runs/current).
    """
    from offline_rl.igl.scoring import score_to_file

    written = score_to_file(model, logs, out_file, vocabulary=vocabulary)
    click.echo(f"scored {written.decisions} decisions ({written.rows} candidate rows) with "
               f"{written.model_dir} -> {written.path}")

"""``offline-rl experiment {covertype,production,news} --out DIR [--seed S]``.

A click group: each subcommand runs one of the IGL-P paper's experiments end to end and
writes its figure (PNG) and table (Parquet, also printed). Other issues add subcommands
(e.g. ``mtrec``) by attaching commands to :data:`experiment`.
"""

from __future__ import annotations

import click


@click.group()
def experiment() -> None:
    """Run one of the papers' experiments end to end (figure + table)."""


@experiment.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the figure and the table.")
@click.option("--seed", type=int, multiple=True, default=(0,), show_default=True,
              help="Seed (repeat for several seeds, e.g. --seed 0 --seed 1).")
@click.option("--rows", type=int, default=60_000, show_default=True,
              help="Events in the simulated stream (the last 20% are held out).")
def covertype(out_dir, seed, rows) -> None:
    """IGL-P(2) on the Covertype stream (paper Section 4.1, Fig. 2)."""
    from offline_rl.igl.experiments.covertype import run_covertype_experiment

    failed = []
    for s in seed:
        result = run_covertype_experiment(out_dir, s, rows=rows)
        click.echo(result.summary())
        click.echo(f"figure -> {result.figure}; table -> {result.table_path}")
        if not result.passed:
            failed.append(s)
    if failed:
        raise click.ClickException(f"acceptance checks failed for seed(s) {failed}")


@experiment.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the figure and the table.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option("--rows", type=int, default=200_000, show_default=True,
              help="Logged events (half fitted, half used for off-policy evaluation).")
@click.option("--fresh-rows", type=int, default=30_000, show_default=True,
              help="Fresh simulated events each policy is run on (on-policy check).")
@click.option("--alpha", type=float, default=0.25, show_default=True,
              help="IGL-P(3)'s negative labelling propensity.")
def production(out_dir, seed, rows, fresh_rows, alpha) -> None:
    """IGL-P(3) and IGL-P(2) vs a hand-engineered baseline (paper Section 4.3, Table 1)."""
    from offline_rl.igl.experiments.production import run_production_experiment

    result = run_production_experiment(out_dir, seed, rows=rows, fresh_rows=fresh_rows,
                                       alpha=alpha)
    click.echo(result.summary())
    click.echo(f"figure -> {result.figure}; table -> {result.table_path}")
    if not result.passed:
        raise click.ClickException("checks failed: " + "; ".join(result.failures))


@experiment.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the figure and the table.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option("--rows", type=int, default=60_000, show_default=True, help="Logged events.")
@click.option("--fresh-rows", type=int, default=30_000, show_default=True,
              help="Fresh simulated events each policy is run on.")
@click.option("--alpha", type=float, default=0.25, show_default=True,
              help="IGL-P(3)'s negative labelling propensity.")
def news(out_dir, seed, rows, fresh_rows, alpha) -> None:
    """IGL-P(3) vs CB-emoji and CB-comment per reader group (paper Section 4.2, Fig. 4)."""
    from offline_rl.igl.experiments.news import run_news_experiment

    result = run_news_experiment(out_dir, seed, rows=rows, fresh_rows=fresh_rows, alpha=alpha)
    click.echo(result.summary())
    click.echo(f"figure -> {result.figure}; table -> {result.table_path}")
    if not result.passed:
        raise click.ClickException("checks failed: " + "; ".join(result.failures))


# The MTRec experiment (QR-IQL mental rewards) lives with its issue's code.
from offline_rl.cli.experiment_mtrec import mtrec  # noqa: E402

experiment.add_command(mtrec)

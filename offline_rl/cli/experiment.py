"""``offline-rl experiment {covertype,production,news} --out DIR [--seed S ...]``.

A click group: each subcommand runs one of the IGL-P paper's experiments end to end on
several seeds (five by default: every claim is reported over seeds, min / median / max, with
the per-seed tables in the output folder) and writes its figures (PNG) and tables (Parquet,
also printed). Each is argument plumbing over one library call (``run_*_seeds``). The exit
code is 1 when a check or claim fails on any seed (the output names which), 0 otherwise.
Other issues add subcommands (e.g. ``mtrec``) by attaching commands to :data:`experiment`.
"""

from __future__ import annotations

import click

SEED_HELP = "Seed (repeat for several, e.g. --seed 0 --seed 1; default 0-4)."
ALPHA_HELP = ("Fixed values of IGL-P(3)'s negative labelling propensity reported beside the "
              "estimated one (repeat for several; default the sensitivity 0.1, 0.25, 0.5, 1).")


@click.group()
def experiment() -> None:
    """Run one of the papers' experiments end to end (figure + table)."""


def _out_option(command):
    return click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                        help="Output folder for the figures and the tables.")(command)


@experiment.command()
@_out_option
@click.option("--seed", type=int, multiple=True, default=(0, 1, 2, 3, 4), help=SEED_HELP)
@click.option("--rows", type=int, default=60_000, show_default=True,
              help="Events in the simulated stream (20% of them, on held-out contexts, are "
                   "held out).")
def covertype(out_dir, seed, rows) -> None:
    """IGL-P(2) on the Covertype stream (paper Section 4.1, Fig. 2)."""
    from offline_rl.igl.experiments.covertype import run_covertype_seeds

    result = run_covertype_seeds(out_dir, seeds=seed, rows=rows)
    for one in result.results:
        click.echo(one.summary())
        click.echo(f"figure -> {one.figure}; table -> {one.table_path}")
    click.echo(result.summary())
    if result.failed_seeds:
        raise click.ClickException(f"acceptance checks failed for seed(s) {result.failed_seeds}")


@experiment.command()
@_out_option
@click.option("--seed", type=int, multiple=True, default=(0, 1, 2, 3, 4), help=SEED_HELP)
@click.option("--alpha", type=float, multiple=True, default=(0.1, 0.25, 0.5, 1.0),
              help=ALPHA_HELP)
@click.option("--perturbed-worlds", is_flag=True,
              help="Run on the perturbed production-like worlds (seeds >= 100) instead of "
                   "the shipped simulator (--seed is then ignored).")
@click.option("--rows", type=int, default=200_000, show_default=True,
              help="Logged events (half fitted, half used for off-policy evaluation).")
@click.option("--fresh-rows", type=int, default=30_000, show_default=True,
              help="Fresh simulated events each policy is run on (on-policy check).")
def production(out_dir, seed, alpha, perturbed_worlds, rows, fresh_rows) -> None:
    """IGL-P(3) and IGL-P(2) vs a hand-engineered baseline (paper Section 4.3, Table 1)."""
    from offline_rl.igl.experiments.production import run_production_seeds
    from offline_rl.igl.experiments.worlds import PERTURBED_WORLDS

    result = run_production_seeds(
        out_dir, seeds=seed, alphas=alpha, rows=rows, fresh_rows=fresh_rows,
        worlds=PERTURBED_WORLDS if perturbed_worlds else None,
    )
    for one in result.results:
        click.echo(one.summary())
        click.echo(f"figure -> {one.figure}; table -> {one.table_path}")
    click.echo(result.summary())
    failed = [f"seed {one.seed} ({one.world}): " + "; ".join(one.failures)
              for one in result.results if one.failures]
    if failed:
        raise click.ClickException("claims failed: " + " | ".join(failed))


@experiment.command()
@_out_option
@click.option("--seed", type=int, multiple=True, default=(0, 1, 2, 3, 4), help=SEED_HELP)
@click.option("--alpha", type=float, multiple=True, default=(0.1, 0.25, 0.5, 1.0),
              help=ALPHA_HELP)
@click.option("--rows", type=int, default=60_000, show_default=True, help="Logged events.")
@click.option("--fresh-rows", type=int, default=30_000, show_default=True,
              help="Fresh simulated rounds each policy is scored on.")
def news(out_dir, seed, alpha, rows, fresh_rows) -> None:
    """IGL-P(3) vs CB-emoji and CB-comment per reader group (paper Section 4.2, Fig. 4)."""
    from offline_rl.igl.experiments.news import run_news_seeds

    result = run_news_seeds(out_dir, seeds=seed, alphas=alpha, rows=rows,
                            fresh_rows=fresh_rows)
    for one in result.results:
        click.echo(one.summary())
        click.echo(f"figure -> {one.figure}; table -> {one.table_path}")
    click.echo(result.summary())
    failed = [f"seed {one.seed}: " + "; ".join(one.failures)
              for one in result.results if one.failures]
    if failed:
        raise click.ClickException("claims failed: " + " | ".join(failed))


# The MTRec experiment (QR-IQL mental rewards) lives with its issue's code.
from offline_rl.cli.experiment_mtrec import mtrec  # noqa: E402

experiment.add_command(mtrec)

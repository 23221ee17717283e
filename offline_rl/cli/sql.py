"""``offline-rl sql --run DIR "SELECT ..."``: read-only SQL over a run's outputs."""

from __future__ import annotations

from pathlib import Path

import click

from offline_rl.runs.query import OUTPUT_FORMATS, describe_run, export_query, resolve_run


@click.command()
@click.argument("query", required=False)
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder (runs/2026-11-01, runs/current) or a run name inside --runs (2026-11-01, current).")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Runs folder in which a bare run name is looked up.")
@click.option("-f", "--file", "query_file", type=click.Path(dir_okay=False, exists=True), help="Read the query from a .sql file.")
@click.option("--list", "list_views", is_flag=True, help="List the views and their columns, then exit.")
@click.option("--format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result to this file instead of the terminal (needed for parquet).")
def sql(query, run_dir, runs_dir, query_file, list_views, output_format, output) -> None:
    """Query a run's Parquet outputs (decoded_rewards, lift, mental_rewards, ...) with SQL.

    Every Parquet file of the run is a view named after its file; writes are refused.
    `--run current` queries the promoted run the nightly job points runs/current at.
    """
    run_dir = resolve_run(run_dir, runs_dir)
    if list_views:
        for view in describe_run(run_dir):
            columns = ", ".join(f"{name} {dtype}" for name, dtype in view.columns)
            click.echo(f"{view.name}  ({view.path.name}): {columns}")
        return
    if query_file:
        query = Path(query_file).read_text(encoding="utf-8")
    if not query:
        raise click.UsageError("give a QUERY, -f FILE, or --list")
    text = export_query(run_dir, query, output_format=output_format, output=output)
    if text is not None:
        click.echo(text, nl=False)

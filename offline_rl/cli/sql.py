"""``offline-rl sql --run DIR "SELECT ..."``: read-only SQL over a run's outputs."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text
from offline_rl.runs.query import describe_run, query_run


@click.command()
@click.argument("query", required=False)
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run folder, e.g. runs/2026-11-01.")
@click.option("-f", "--file", "query_file", type=click.Path(dir_okay=False, exists=True), help="Read the query from a .sql file.")
@click.option("--list", "list_views", is_flag=True, help="List the views and their columns, then exit.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result to this file instead of the terminal.")
def sql(query, run_dir, query_file, list_views, output_format, output) -> None:
    """Query a run's Parquet outputs (decoded_rewards, lift, mental_rewards, ...) with SQL.

    Every Parquet file of the run is a view named after its file; writes are refused.
    """
    if list_views:
        for view in describe_run(run_dir):
            columns = ", ".join(f"{name} {dtype}" for name, dtype in view.columns)
            click.echo(f"{view.name}  ({view.path.name}): {columns}")
        return
    if query_file:
        query = Path(query_file).read_text(encoding="utf-8")
    if not query:
        raise click.UsageError("give a QUERY, -f FILE, or --list")
    frame = pl.from_arrow(query_run(run_dir, query))
    if output_format == "parquet":
        if not output:
            raise click.UsageError("--format parquet needs --output FILE")
        atomic_write_parquet(frame, output)
        return
    if output_format == "table":
        with pl.Config(tbl_rows=50, tbl_cols=20, tbl_width_chars=160, fmt_str_lengths=40):
            text = str(frame) + "\n"
    elif output_format == "csv":
        text = frame.write_csv()
    else:
        text = frame.write_json()
    if output:
        atomic_write_text(output, text)
    else:
        click.echo(text, nl=False)

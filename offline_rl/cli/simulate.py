"""``offline-rl simulate {covertype,production,news} --out DIR --rows N --seed S``."""

from __future__ import annotations

import click

from offline_rl.simulators import SIMULATORS, simulate_logs, write_simulation


@click.command()
@click.argument("name", type=click.Choice(sorted(SIMULATORS)))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--rows", type=click.IntRange(min=1), default=10_000, show_default=True, help="Logged decisions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed gives the same files.")
def simulate(name: str, out_dir: str, rows: int, seed: int) -> None:
    """Write simulated logs (with the hidden reward) in the canonical schema.

    Writes logs.parquet, actions.parquet (when actions have features) and truth.json
    (the hidden ground truth: user conventions, word meanings, reader groups).
    """
    written = write_simulation(simulate_logs(name, rows=rows, seed=seed), out_dir)
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")

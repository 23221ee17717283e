"""``offline-rl experiment mtrec --out DIR [--seed S]``: the MTRec Table-1-style experiment.

The option defaults repeat :class:`offline_rl.mtrec.experiment.ExperimentConfig`'s (a test
holds them equal): reading them from the class would import torch whenever the ``experiment``
group loads, ``--help`` included.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import click


class _EchoHandler(logging.Handler):
    """Progress records of the library, one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@contextlib.contextmanager
def _progress_on_stderr(name: str):
    library_logger = logging.getLogger(name)
    handler = _EchoHandler()
    previous = library_logger.level
    library_logger.addHandler(handler)
    library_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        library_logger.removeHandler(handler)
        library_logger.setLevel(previous)


@click.command("mtrec")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the tables, figure and summary.json.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything.")
@click.option("--rows", type=int, default=20000, show_default=True,
              help="Logged steps of the sessions simulator.")
@click.option("--reward-steps", type=int, default=400, show_default=True,
              help="Adam steps of each reward model.")
@click.option("--ctr-epochs", type=int, default=4, show_default=True,
              help="Epochs of each CTR backbone.")
@click.option("--kappa", type=float, default=0.2, show_default=True,
              help="Alignment weight of the +MTRec rows.")
@click.option("--backbones", default="wide_deep,deepfm,pnn,din,dien,sasrec", show_default=True,
              help="Comma-separated backbones.")
@click.option("--rl-iterations", type=int, default=25, show_default=True,
              help="REINFORCE iterations of the Eq. 12 check (0 skips it).")
@click.option("--satisfaction-rows", type=int, default=100000, show_default=True,
              help="Logged steps of the satisfaction check, reward models with the users' "
                   "gamma = 0 (0 skips it).")
def mtrec(out_dir, seed, rows, reward_steps, ctr_epochs, kappa, backbones, rl_iterations,
          satisfaction_rows) -> None:
    """Train every backbone with and without MTRec alignment and print the table."""
    from offline_rl.mtrec.experiment import ExperimentConfig, run_mtrec_experiment

    config = ExperimentConfig(
        rows=rows, production_rows=rows, reward_steps=reward_steps, ctr_epochs=ctr_epochs,
        kappa=kappa, backbones=tuple(b.strip() for b in backbones.split(",") if b.strip()),
        rl_iterations=rl_iterations, satisfaction_rows=satisfaction_rows,
    )
    with _progress_on_stderr("offline_rl.mtrec.experiment"):
        run_mtrec_experiment(out_dir, seed, config=config)
    click.echo((Path(out_dir) / "mtrec_table.md").read_text(), nl=False)

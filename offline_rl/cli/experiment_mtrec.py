"""``offline-rl experiment mtrec --out DIR [--seed S ...] [--amazon DIR --category NAME]``.

MTRec's Table 1 (base vs aligned backbones, paired intervals, CTR-level controls) on the
sessions simulator, or on an Amazon category the user supplies. One library call,
:func:`offline_rl.mtrec.seeds.run_mtrec_seeds`; its log records go to stderr, tqdm bars too
(only when stderr is a terminal), the table (or the summary over seeds) to stdout.

The option defaults repeat :class:`offline_rl.mtrec.experiment.ExperimentConfig`'s (a test
holds them equal): reading them from the class would import torch whenever the ``experiment``
group loads, ``--help`` included.
"""

from __future__ import annotations

import sys

import click

from offline_rl.cli import library_log


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


@click.command("mtrec")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (one seed) or parent of seed-<S>/ folders (several).")
@click.option("--seed", "seeds", type=int, multiple=True, default=(0,), show_default=True,
              help="Seed of everything; repeat for several seeds (--seed 0 --seed 1 ...).")
@click.option("--amazon", "amazon_dir", type=click.Path(file_okay=False),
              help="Folder with reviews_<NAME>_5.json and meta_<NAME>.json (gzip or not); "
                   "runs Table 1 on them instead of the sessions simulator.")
@click.option("--category", help="NAME of the Amazon category (with --amazon).")
@click.option("--rows", type=int, default=20000, show_default=True,
              help="Logged steps of the sessions simulator.")
@click.option("--reward-steps", type=int, default=400, show_default=True,
              help="Adam steps of each reward model.")
@click.option("--ctr-epochs", type=int, default=4, show_default=True,
              help="Epochs of each CTR backbone.")
@click.option("--kappa", type=float, default=0.2, show_default=True,
              help="Alignment weight of the aligned rows (without --tune).")
@click.option("--tune/--no-tune", "tune_alignment", default=False, show_default=True,
              help="Choose kappa (--kappa-grid) and the reward standardisation per backbone "
                   "and reward model by AUC on validation users carved from the training users.")
@click.option("--kappa-grid", default="0.02,0.05,0.1,0.2,0.5", show_default=True,
              help="Comma-separated kappa values tried with --tune.")
@click.option("--n-replicates", type=int, default=1000, show_default=True,
              help="Paired cluster-bootstrap replicates of every difference.")
@click.option("--backbones", default="wide_deep,deepfm,pnn,din,dien,sasrec", show_default=True,
              help="Comma-separated backbones.")
@click.option("--rl-iterations", type=int, default=25, show_default=True,
              help="REINFORCE iterations of the Eq. 12 check (0 skips it; simulator only).")
@click.option("--satisfaction-rows", type=int, default=100000, show_default=True,
              help="Logged steps of the satisfaction check, reward models with the users' "
                   "gamma = 0 (0 skips it; simulator only).")
def mtrec(out_dir, seeds, amazon_dir, category, rows, reward_steps, ctr_epochs, kappa,
          tune_alignment, kappa_grid, n_replicates, backbones, rl_iterations,
          satisfaction_rows) -> None:
    """Train every backbone with and without MTRec alignment and print the table."""
    from offline_rl.mtrec.experiment import ExperimentConfig
    from offline_rl.mtrec.seeds import run_mtrec_seeds

    if (amazon_dir is None) != (category is None):
        raise click.UsageError("--amazon DIR and --category NAME go together.")
    config = ExperimentConfig(
        rows=rows, production_rows=rows, reward_steps=reward_steps, ctr_epochs=ctr_epochs,
        kappa=kappa, tune_alignment=tune_alignment, kappa_grid=_floats(kappa_grid),
        n_replicates=n_replicates,
        backbones=tuple(b.strip() for b in backbones.split(",") if b.strip()),
        rl_iterations=rl_iterations, satisfaction_rows=satisfaction_rows,
    )
    amazon = None if amazon_dir is None else (amazon_dir, category)
    with library_log():
        text = run_mtrec_seeds(out_dir, list(seeds), config=config, amazon=amazon,
                               progress=sys.stderr.isatty())
    click.echo(text, nl=False)

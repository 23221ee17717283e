"""``offline-rl fit-igl LOGS --out DIR [--states 2|3] [--negative-signal dislike] [--alpha A]
[--actions FILE]``.

Argument plumbing over :func:`offline_rl.igl.folder.fit_logs_to_folder`: LOGS (raw logs, or
an ``ik_training_set.parquet`` written by ``offline-rl prepare``) and the optional actions
table -> the model artifact (``model.pt``, ``config.json``, ``vocabularies.parquet``,
``manifest.json``) and ``decoded_rewards.parquet`` (decoded out of fold) in ``--out``. The settings are checked by :class:`IGLPConfig` (e.g. 3 states need a negative
signal); a bad one exits with code 2 before anything is written.
"""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.config import field_help
from offline_rl.igl.config import IGLPConfig

HELP = field_help(IGLPConfig)


@click.command()
@click.argument("logs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the model artifact and decoded_rewards.parquet.")
@click.option("--states", type=click.Choice(["2", "3"]), default=str(IGLPConfig.states),
              show_default=True, help=HELP["states"])
@click.option("--negative-signal", "negative_signals", multiple=True, metavar="SIGNAL",
              help=HELP["negative_signals"] + " Repeatable.")
@click.option("--alpha", type=float, default=None,
              help=HELP["alpha"] + " [default: estimated with 3 states, 1 with 2]")
@click.option("--max-weight", type=float, default=None,
              help="Clip the IK importance weights 1/(K·P) at this value.")
@click.option("--actions", "actions", default=None, type=click.Path(dir_okay=False),
              help="Actions table (action_id, features) with the candidates' features.")
@click.option("--embedding-dim", type=int, default=IGLPConfig.embedding_dim, show_default=True,
              help=HELP["embedding_dim"])
@click.option("--restarts", type=int, default=IGLPConfig.ik_restarts, show_default=True,
              help=HELP["ik_restarts"])
@click.option("--epochs", type=int, default=IGLPConfig.ik_epochs, show_default=True,
              help=HELP["ik_epochs"])
@click.option("--folds", type=int, default=IGLPConfig.crossfit_folds, show_default=True,
              help=HELP["crossfit_folds"])
@click.option("--seed", type=int, default=IGLPConfig.seed, show_default=True, help=HELP["seed"])
@click.option("--threads", type=int, default=IGLPConfig.max_threads, show_default=True,
              help=HELP["max_threads"])
@vocabulary_option
def fit_igl(logs, out_dir, states, negative_signals, alpha, max_weight, actions, embedding_dim,
            restarts, epochs, folds, seed, threads, vocabulary) -> None:
    """Fit IGL-P on LOGS and write the model and decoded_rewards.parquet to --out."""
    from offline_rl.igl.folder import fit_logs_to_folder

    config = IGLPConfig(
        states=int(states),
        negative_signals=tuple(negative_signals),
        alpha=alpha,
        embedding_dim=embedding_dim,
        ik_restarts=restarts,
        ik_epochs=epochs,
        crossfit_folds=folds,
        seed=seed,
        max_threads=threads,
    )
    fitted = fit_logs_to_folder(logs, out_dir, config=config, vocabulary=vocabulary,
                                max_weight=max_weight, actions=actions)
    metrics = fitted.metrics
    signal = "signal found" if metrics["ik_found_signal"] else "NO SIGNAL: decoded rewards are noise"
    click.echo(
        f"IGL-P({config.states}) fitted on {fitted.model.n_rows_} rows in "
        f"{fitted.fit_seconds:.1f}s; out-of-fold IK NLL {metrics['ik_held_out_nll']:.4f} vs "
        f"no-signal {metrics['ik_no_signal_nll']:.4f} ({signal}); "
        f"alpha {metrics['alpha']:.3g}{' (estimated)' if metrics['alpha_estimated'] else ''}; "
        f"extreme events {metrics['extreme_rate']:.3f}; "
        f"mean decoded reward {metrics['decoded_reward_mean']:.4f}"
    )
    click.echo(f"model -> {fitted.model_dir / 'model.pt'}; decoded rewards -> {fitted.decoded_path}")

"""``offline-rl fit-igl LOGS --out DIR [--states 2|3] [--negative-signal dislike] [--alpha A]
[--actions FILE]``.

Argument plumbing over :func:`offline_rl.igl.folder.fit_logs_to_folder`: LOGS (raw logs, or
an ``ik_training_set.parquet`` written by ``offline-rl prepare``) and the optional actions
table -> the model artifact (``model.pt``, ``config.json``, ``vocabularies.parquet``,
``manifest.json``) and ``decoded_rewards.parquet`` (decoded out of fold) in ``--out``. The
settings are checked by :class:`IGLPConfig` (e.g. 3 states need a negative signal); a bad one
exits with code 2 before anything is written. Under ``torchrun --nproc-per-node N -m
offline_rl fit-igl`` the N processes train one model with DDP (gloo on CPU, NCCL on GPU) on a
prepared ``ik_training_set.parquet`` and rank 0 writes the outputs (docs/scale.md).
"""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.config import field_help
from offline_rl.igl.config import IGLPConfig
from offline_rl.runtime import DEVICE_CHOICES

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
@click.option("--hidden-dim", type=int, default=IGLPConfig.hidden_dim, show_default=True,
              help=HELP["hidden_dim"])
@click.option("--action-dim", type=int, default=IGLPConfig.action_dim, show_default=True,
              help=HELP["action_dim"])
@click.option("--batch-size", "ik_batch_size", type=int, default=IGLPConfig.ik_batch_size,
              show_default=True,
              help=HELP["ik_batch_size"] + " Under torchrun: the global batch over the processes.")
@click.option("--policy-batch-size", type=int, default=IGLPConfig.policy_batch_size,
              show_default=True,
              help=HELP["policy_batch_size"] + " Under torchrun: the global batch over the processes.")
@click.option("--policy-epochs", type=int, default=IGLPConfig.policy_epochs, show_default=True,
              help=HELP["policy_epochs"])
@click.option("--restarts", type=int, default=IGLPConfig.ik_restarts, show_default=True,
              help=HELP["ik_restarts"])
@click.option("--epochs", type=int, default=IGLPConfig.ik_epochs, show_default=True,
              help=HELP["ik_epochs"])
@click.option("--folds", type=int, default=IGLPConfig.crossfit_folds, show_default=True,
              help=HELP["crossfit_folds"])
@click.option("--seed", type=int, default=IGLPConfig.seed, show_default=True, help=HELP["seed"])
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default=IGLPConfig.device,
              show_default=True, help=HELP["device"])
@click.option("--threads", type=int, default=IGLPConfig.max_threads, help=HELP["max_threads"])
@vocabulary_option
def fit_igl(logs, out_dir, states, negative_signals, alpha, max_weight, actions, embedding_dim,
            hidden_dim, action_dim, ik_batch_size, policy_batch_size, policy_epochs, restarts, epochs, folds, seed, device, threads, vocabulary) -> None:
    """Fit IGL-P on LOGS and write the model and decoded_rewards.parquet to --out."""
    from offline_rl.igl.folder import fit_logs_to_folder

    config = IGLPConfig(
        states=int(states),
        negative_signals=tuple(negative_signals),
        alpha=alpha,
        embedding_dim=embedding_dim,
        hidden_dim=hidden_dim,
        action_dim=action_dim,
        ik_batch_size=ik_batch_size,
        policy_batch_size=policy_batch_size,
        policy_epochs=policy_epochs,
        ik_restarts=restarts,
        ik_epochs=epochs,
        crossfit_folds=folds,
        seed=seed,
        device=device,
        max_threads=threads,
    )
    fitted = fit_logs_to_folder(logs, out_dir, config=config, vocabulary=vocabulary,
                                max_weight=max_weight, actions=actions)
    if not fitted.world.is_main:
        return
    metrics = fitted.metrics
    runtime = fitted.model.runtime_
    signal = "signal found" if metrics["ik_found_signal"] else "NO SIGNAL: decoded rewards are noise"
    click.echo(
        f"IGL-P({config.states}) fitted on {fitted.model.n_rows_} rows in "
        f"{fitted.fit_seconds:.1f}s; out-of-fold IK NLL {metrics['ik_held_out_nll']:.4f} vs "
        f"no-signal {metrics['ik_no_signal_nll']:.4f} ({signal}); "
        f"alpha {metrics['alpha']:.3g}{' (estimated)' if metrics['alpha_estimated'] else ''}; "
        f"extreme events {metrics['extreme_rate']:.3f}; "
        f"mean decoded reward {metrics['decoded_reward_mean']:.4f}; on "
        f"{runtime['world_size']} x {runtime['device']} ({runtime['threads']} thread(s) each)"
    )
    click.echo(f"model -> {fitted.model_dir / 'model.pt'}; decoded rewards -> {fitted.decoded_path}")

"""``offline-rl fit-qriql INPUT --out DIR``: learn mental rewards (MTRec sec. 4).

Argument plumbing over :func:`offline_rl.qriql.folder.fit_logs_to_folder`: INPUT (raw logs, or
a ``user_trajectories.parquet`` written by ``offline-rl prepare``) -> ``DIR/model/`` and
``DIR/mental_rewards.parquet``. Under ``torchrun --nproc-per-node N -m offline_rl fit-qriql``
the N processes train one model with DDP (gloo on CPU, NCCL on GPU) on a prepared Parquet, and
rank 0 writes the outputs (docs/scale.md).
"""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.config import field_help
from offline_rl.data.prepare import (
    DEFAULT_NEGATIVE_SIGNALS,
    DEFAULT_POSITIVE_SIGNALS,
    PrepareConfig,
)
from offline_rl.qriql.config import QRIQLConfig
from offline_rl.runtime import DEVICE_CHOICES

HELP = field_help(QRIQLConfig)
PREPARE_HELP = field_help(PrepareConfig)


def _signals(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


@click.command("fit-qriql")
@click.argument("logs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the model artifact and mental_rewards.parquet.")
@click.option("--quantiles", type=int, default=QRIQLConfig.quantiles, show_default=True,
              help=HELP["quantiles"])
@click.option("--alpha", type=float, default=QRIQLConfig.alpha, show_default=True, help=HELP["alpha"])
@click.option("--gamma", type=float, default=QRIQLConfig.gamma, show_default=True, help=HELP["gamma"])
@click.option("--huber-kappa", type=float, default=QRIQLConfig.huber_kappa, show_default=True,
              help=HELP["huber_kappa"])
@click.option("--steps", type=int, default=QRIQLConfig.steps, show_default=True, help=HELP["steps"])
@click.option("--epochs", type=int, default=QRIQLConfig.epochs, help=HELP["epochs"])
@click.option("--batch-size", type=int, default=QRIQLConfig.batch_size, show_default=True,
              help=HELP["batch_size"] + " Under torchrun: the global batch, split over the processes.")
@click.option("--seed", type=int, default=QRIQLConfig.seed, show_default=True, help=HELP["seed"])
@click.option("--validation-fraction", type=float, default=QRIQLConfig.validation_fraction,
              show_default=True, help=HELP["validation_fraction"])
@click.option("--validation-unit", type=click.Choice(["user", "session"]),
              default=QRIQLConfig.validation_unit, show_default=True, help=HELP["validation_unit"])
@click.option("--validation-every", type=int, default=QRIQLConfig.validation_every,
              show_default=True, help=HELP["validation_every"])
@click.option("--patience", type=int, default=QRIQLConfig.patience, help=HELP["patience"])
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default=QRIQLConfig.device,
              show_default=True, help=HELP["device"])
@click.option("--threads", type=int, default=QRIQLConfig.max_threads, help=HELP["max_threads"])
@click.option("--checkpoint-every", type=int, default=None,
              help="Save the training state to OUT/checkpoint/ every this many steps.")
@click.option("--resume", is_flag=True,
              help="Continue from OUT/checkpoint/ if it holds a checkpoint of the same fit.")
@click.option("--actions", "actions_path", type=click.Path(dir_okay=False), default=None,
              help="Optional actions table (action_id, features) with item features.")
@click.option("--session-gap", "session_gap_seconds", type=float,
              default=PrepareConfig.session_gap_seconds, show_default=True,
              help=PREPARE_HELP["session_gap_seconds"] + " Raw logs only.")
@click.option("--history-length", type=int, default=PrepareConfig.history_length, show_default=True,
              help=PREPARE_HELP["history_length"] + " Raw logs only.")
@click.option("--negative-signals", default=",".join(DEFAULT_NEGATIVE_SIGNALS), show_default=True,
              help=PREPARE_HELP["negative_signals"] + " Comma-separated; raw logs only.")
@click.option("--positive-signals", default=",".join(DEFAULT_POSITIVE_SIGNALS), show_default=True,
              help=PREPARE_HELP["positive_signals"] + " Comma-separated; raw logs only.")
@vocabulary_option
def fit_qriql(logs, out_dir, quantiles, alpha, gamma, huber_kappa, steps, epochs, batch_size, seed,
              validation_fraction, validation_unit, validation_every, patience, device, threads,
              checkpoint_every, resume, actions_path, session_gap_seconds, history_length,
              negative_signals, positive_signals, vocabulary) -> None:
    """Fit QR-IQL on LOGS (raw logs, or a prepared user_trajectories.parquet) and write the
    model and mental rewards to --out."""
    from offline_rl.data.loading import load_actions
    from offline_rl.qriql.folder import fit_logs_to_folder

    config = QRIQLConfig(
        quantiles=quantiles, alpha=alpha, gamma=gamma, huber_kappa=huber_kappa, steps=steps,
        epochs=epochs, batch_size=batch_size, seed=seed, validation_fraction=validation_fraction,
        validation_unit=validation_unit, validation_every=validation_every, patience=patience,
        device=device, max_threads=threads,
    )
    prepare_config = PrepareConfig(
        session_gap_seconds=session_gap_seconds,
        history_length=history_length,
        negative_signals=_signals(negative_signals),
        positive_signals=_signals(positive_signals),
    )
    if checkpoint_every is not None and checkpoint_every < 1:
        raise click.BadParameter("must be >= 1 (steps)", param_hint="--checkpoint-every")
    fitted = fit_logs_to_folder(
        logs, out_dir, config=config, prepare_config=prepare_config, vocabulary=vocabulary,
        actions=load_actions(actions_path) if actions_path else None,
        checkpoint_every=checkpoint_every, resume=resume,
    )
    if not fitted.world.is_main:
        return
    model = fitted.model
    name = "IQ-Learn" if config.is_iq_learn else f"QR-IQL (N={quantiles})"
    held_out = ""
    if model.validation_curve_:
        best = min(loss for _, loss in model.validation_curve_)
        held_out = (f", held-out loss {best:.4f} at step {model.best_step_} "
                    f"({model.n_validation_rows_} held-out rows)")
    runtime = model.runtime_
    click.echo(f"{name}: {fitted.rows} steps, {model.steps_} Adam steps, final loss "
               f"{model.loss_curve_[-1]:.4f}{held_out}; {model.samples_per_second_:.0f} samples/s on "
               f"{runtime['world_size']} x {runtime['device']} ({runtime['threads']} thread(s) each)")
    click.echo(f"model -> {fitted.model_dir}")
    click.echo(f"mental rewards -> {fitted.rewards_path}")

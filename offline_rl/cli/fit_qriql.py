"""``offline-rl fit-qriql LOGS --out DIR``: learn mental rewards from raw logs (MTRec sec. 4)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.data.prepare import DEFAULT_NEGATIVE_SIGNALS, PrepareConfig
from offline_rl.qriql.config import QRIQLConfig


@click.command("fit-qriql")
@click.argument("logs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder for the model artifact and mental_rewards.parquet.")
@click.option("--quantiles", type=int, default=QRIQLConfig.quantiles, show_default=True,
              help="Quantile heads N per action; 1 gives the IQ-Learn baseline.")
@click.option("--alpha", type=float, default=QRIQLConfig.alpha, show_default=True,
              help="chi^2 regulariser weight alpha of psi(x) = x - x^2/(4 alpha).")
@click.option("--gamma", type=float, default=QRIQLConfig.gamma, show_default=True,
              help="Discount gamma of the user MDP.")
@click.option("--steps", type=int, default=QRIQLConfig.steps, show_default=True, help="Adam steps.")
@click.option("--epochs", type=int, default=QRIQLConfig.epochs,
              help="Train ceil(epochs * rows / batch) steps instead of --steps.")
@click.option("--batch-size", type=int, default=QRIQLConfig.batch_size, show_default=True, help="Mini-batch size.")
@click.option("--seed", type=int, default=QRIQLConfig.seed, show_default=True, help="Seed.")
@click.option("--actions", "actions_path", type=click.Path(dir_okay=False), default=None,
              help="Optional actions table (action_id, features) with item features.")
@click.option("--session-gap", "session_gap_seconds", type=float, default=1800.0,
              show_default=True, help="Seconds of inactivity that start a new session.")
@click.option("--history-length", type=int, default=10, show_default=True,
              help="Earlier steps of the session kept in a state.")
@click.option("--negative-signals", default=",".join(DEFAULT_NEGATIVE_SIGNALS),
              show_default=True, help="Signals that count as a negative response.")
@vocabulary_option
def fit_qriql(logs, out_dir, quantiles, alpha, gamma, steps, epochs, batch_size, seed, actions_path,
              session_gap_seconds, history_length, negative_signals, vocabulary) -> None:
    """Fit QR-IQL on LOGS (runs the user_trajectories job) and write the model and rewards."""
    from offline_rl.data.atomic import atomic_write_text
    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.loading import load_actions, load_logs
    from offline_rl.data.prepare import user_trajectories
    from offline_rl.qriql import QRIQL
    from offline_rl.qriql.learner import REWARDS_FILE

    config = QRIQLConfig(quantiles=quantiles, alpha=alpha, gamma=gamma, steps=steps,
                         epochs=epochs, batch_size=batch_size, seed=seed)
    prepare_config = PrepareConfig(
        session_gap_seconds=session_gap_seconds,
        history_length=history_length,
        negative_signals=tuple(s.strip() for s in negative_signals.split(",") if s.strip()),
    )
    frame = drop_hidden_reward(load_logs(logs, vocabulary=vocabulary))
    trajectories = user_trajectories(frame, config=prepare_config)
    actions = load_actions(actions_path) if actions_path else None
    model = QRIQL(config).fit(trajectories, actions=actions)
    out = Path(out_dir)
    model.save(out / "model")
    path = model.write_mental_rewards(trajectories, out / REWARDS_FILE)
    atomic_write_text(out / "prepare_config.json",
                      json.dumps(prepare_config.to_dict(), indent=2) + "\n")
    name = "IQ-Learn" if config.is_iq_learn else f"QR-IQL (N={quantiles})"
    click.echo(f"{name}: {trajectories.height} steps, final loss {model.loss_curve_[-1]:.4f}, "
               f"{model.samples_per_second_:.0f} samples/s")
    click.echo(f"model -> {out / 'model'}")
    click.echo(f"mental rewards -> {path}")

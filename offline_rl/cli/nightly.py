"""``offline-rl nightly LOGS [--date D] [--runs DIR] [--config FILE] ...``."""

from __future__ import annotations

import click

from offline_rl.cli.options import vocabulary_option
from offline_rl.nightly.config import build_config, read_config_file
from offline_rl.nightly.pipeline import run_nightly


@click.command()
@click.argument("logs", required=False)
@click.option("--date", default=None, help="Partition date YYYY-MM-DD, or 'latest' (default).")
@click.option("--runs", "runs_dir", default=None, help="Runs folder (default: runs).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), help="TOML/YAML/JSON settings; flags win.")
@click.option("--seed", type=int, default=None, help="Seed of every learner and of the bootstrap.")
@click.option("--states", type=click.Choice(["2", "3"]), default=None, help="IGL-P latent states.")
@click.option("--negative-signal", "negative_signals", multiple=True, help="Definitely-negative signal (repeatable).")
@click.option("--alpha", type=float, default=None, help="Negative labelling propensity of IGL-P(3).")
@click.option("--window-days", type=int, default=None, help="Daily partitions up to --date to train on.")
@click.option("--no-qriql", is_flag=True, default=False, help="Skip the QR-IQL mental reward model.")
@click.option("--replicates", "bootstrap_replicates", type=int, default=None, help="Bootstrap replicates.")
@click.option("--actions", type=click.Path(dir_okay=False, exists=True), default=None, help="Action features Parquet (action_id, features).")
@click.option("--segments", type=click.Path(dir_okay=False, exists=True), default=None, help="User segments Parquet (user_id, segment) for fairness bars.")
@vocabulary_option
@click.option("--fresh", is_flag=True, default=False, help="Do not warm-start from the previous night's model.")
@click.option("--force", is_flag=True, default=False, help="Recompute even when the run is up to date.")
@click.option("--quiet", is_flag=True, default=False, help="No progress bar.")
def nightly(logs, date, runs_dir, config_file, seed, states, negative_signals, alpha, window_days, no_qriql,
            bootstrap_replicates, actions, segments, vocabulary, fresh, force, quiet) -> None:
    """Run the nightly job on LOGS (a Hive folder date=YYYY-MM-DD/, a glob or a file).

    Writes runs/<date>/ (models, decoded and mental rewards, report.html, report.json,
    lift.parquet, manifest.json). A killed run resumes where it stopped when run again.
    """
    settings = read_config_file(config_file) if config_file else {}
    config = build_config(
        settings,
        logs=logs,
        date=date,
        runs_dir=runs_dir,
        seed=seed,
        states=int(states) if states else None,
        negative_signals=tuple(negative_signals) or None,
        alpha=alpha,
        window_days=window_days,
        fit_qriql=False if no_qriql else None,
        bootstrap_replicates=bootstrap_replicates,
        warm_start=False if fresh else None,
        actions=actions,
        segments=segments,
        vocabulary=vocabulary,
    )
    result = run_nightly(config, force=force, quiet=quiet)
    if result.up_to_date:
        click.echo(f"run {result.date} is up to date: {result.run_dir}\n  report: {result.report_path}")

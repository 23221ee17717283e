"""``offline-rl nightly LOGS [--date D] [--runs DIR] [--config FILE] ...``."""

from __future__ import annotations

import dataclasses

import click

from offline_rl.cli import library_log
from offline_rl.cli.options import vocabulary_option
from offline_rl.config import field_help
from offline_rl.nightly.config import NightlyConfig, build_config, read_config_file
from offline_rl.nightly.pipeline import run_nightly


def _help(name: str, extra: str = "") -> str:
    """An option's help: the NightlyConfig field's docstring and default, so they cannot drift."""
    default = {field.name: field.default for field in dataclasses.fields(NightlyConfig)}[name]
    shown = ", ".join(default) if isinstance(default, tuple) else default
    text = field_help(NightlyConfig)[name].replace("``", "")
    return f"{text}{extra} [default: {shown}]" if shown is not None else text + extra


@click.command()
@click.argument("logs", required=False)
@click.option("--date", default=None, help=_help("date"))
@click.option("--runs", "runs_dir", default=None, help=_help("runs_dir"))
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), help="TOML/YAML/JSON settings (a [nightly] table or top-level keys); flags win.")
@click.option("--seed", type=int, default=None, help=_help("seed"))
@click.option("--states", type=int, default=None, help=_help("states"))
@click.option("--negative-signal", "negative_signals", multiple=True, help=_help("negative_signals", " Repeatable."))
@click.option("--alpha", type=float, default=None, help=_help("alpha"))
@click.option("--window-days", type=int, default=None, help=_help("window_days"))
@click.option("--holdout-days", type=int, default=None, help=_help("holdout_days"))
@click.option("--holdout-fraction", type=float, default=None, help=_help("holdout_fraction"))
@click.option("--primary-metric", default=None, help=_help("primary_metric"))
@click.option("--negative-metric", "negative_metrics", multiple=True, help=_help("negative_metrics", " Repeatable."))
@click.option("--no-negative-metrics", is_flag=True, default=False, help="Declare no negative metric (logs without one).")
@click.option("--promotion-margin", type=float, default=None, help=_help("promotion_margin"))
@click.option("--negative-lift-limit", type=float, default=None, help=_help("negative_lift_limit"))
@click.option("--no-qriql", is_flag=True, default=False, help="Skip the QR-IQL mental reward model.")
@click.option("--replicates", "bootstrap_replicates", type=int, default=None, help=_help("bootstrap_replicates"))
@click.option("--actions", type=click.Path(dir_okay=False, exists=True), default=None, help=_help("actions"))
@click.option("--segments", type=click.Path(dir_okay=False, exists=True), default=None, help=_help("segments"))
@vocabulary_option
@click.option("--fresh", is_flag=True, default=False, help="Do not warm-start from the previous night's model.")
@click.option("--force", is_flag=True, default=False, help="Recompute even when the run is up to date.")
@click.option("--quiet", is_flag=True, default=False, help="No progress bar and no notes on stderr.")
@click.option("--held-back-exit-code", type=click.IntRange(0, 255), default=0, show_default=True,
              help="Exit code of a run that finishes held back (a decision, not a failure: 0 by default; "
                   "e.g. 3 for a scheduler that alerts on it). Bad input always exits 2.")
def nightly(logs, date, runs_dir, config_file, seed, states, negative_signals, alpha, window_days, holdout_days,
            holdout_fraction, primary_metric, negative_metrics, no_negative_metrics, promotion_margin,
            negative_lift_limit, no_qriql, bootstrap_replicates, actions, segments, vocabulary, fresh, force, quiet,
            held_back_exit_code) -> None:
    """Run the nightly job on LOGS (a Hive folder date=YYYY-MM-DD/, a glob or a file).

    Fits on the window's events before a cut, evaluates on the events after it, and decides
    whether the policy is promoted (runs/current then points at the run) or held back. Writes
    runs/<date>/ (models, decoded and mental rewards, report.html, report.json,
    lift.parquet, manifest.json). A killed run resumes where it stopped when run again.
    """
    if no_negative_metrics and negative_metrics:
        raise click.UsageError("give --negative-metric or --no-negative-metrics, not both")
    config = build_config(
        read_config_file(config_file) if config_file else {},
        logs=logs,
        date=date,
        runs_dir=runs_dir,
        seed=seed,
        states=states,
        negative_signals=negative_signals or None,
        alpha=alpha,
        window_days=window_days,
        holdout_days=holdout_days,
        holdout_fraction=holdout_fraction,
        primary_metric=primary_metric,
        negative_metrics=() if no_negative_metrics else (negative_metrics or None),
        promotion_margin=promotion_margin,
        negative_lift_limit=negative_lift_limit,
        fit_qriql=False if no_qriql else None,
        bootstrap_replicates=bootstrap_replicates,
        warm_start=False if fresh else None,
        actions=actions,
        segments=segments,
        vocabulary=vocabulary,
    )
    with library_log(enabled=not quiet):
        result = run_nightly(config, force=force, quiet=quiet)
    click.echo(result.summary())
    if result.decision == "held_back" and held_back_exit_code:
        click.get_current_context().exit(held_back_exit_code)

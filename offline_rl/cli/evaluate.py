"""``offline-rl evaluate LOGS --policy SCORES --out DIR``: off-policy evaluation with lift intervals."""

from __future__ import annotations

import click


@click.command("evaluate")
@click.argument("logs", type=str)
@click.option(
    "--policy",
    "scores",
    required=True,
    type=click.Path(exists=False),
    help="Parquet with event_id and one probability column per candidate policy (pi of the logged action), or a fitted run folder holding policy_scores.parquet.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for report.json, lift.parquet and report.html.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Feedback signal to evaluate (repeatable); default: every signal in the logs except 'none'.",
)
@click.option(
    "--segment-column",
    default=None,
    help="Column of the logs whose values define segments for the per-group lift bars (e.g. user_id bucket).",
)
@click.option(
    "--estimator",
    "primary_estimator",
    default="snips",
    show_default=True,
    type=click.Choice(["ips", "capped_ips", "snips", "ncis", "dm", "dr"]),
    help="Estimator shown in the table and plots (dm and dr need --reward-model).",
)
@click.option(
    "--interval",
    default="percentile",
    show_default=True,
    type=click.Choice(["percentile", "bca", "delta"]),
    help="Interval in lower/upper.",
)
@click.option(
    "--replicates",
    "n_replicates",
    default=1000,
    show_default=True,
    type=int,
    help="Bootstrap replicates (0: delta method only).",
)
@click.option(
    "--resample",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "events", "users"]),
    help="Resampling unit: 'users' is the cluster bootstrap; 'auto' resamples users whenever "
    "a user has more than one event, else events. The report says which was used.",
)
@click.option(
    "--reward-model",
    "reward_model",
    default=None,
    type=click.Path(dir_okay=False),
    help="Parquet of a reward model's predictions (event_id, metric, logged, one column per "
    "candidate policy with q_pi(x)) for the direct-method and doubly robust estimators "
    "(docs/evaluation.md).",
)
@click.option(
    "--weight-cap",
    default=10.0,
    show_default=True,
    type=float,
    help="Cap c on pi/p for capped IPS and NCIS.",
)
@click.option(
    "--confidence", default=0.95, show_default=True, type=float, help="Two-sided interval level."
)
@click.option(
    "--baseline",
    default=None,
    help="Candidate policy (a column of --policy) to measure the others' lift against, "
    "instead of the logged policy; both are estimated off-policy from the logs.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
def evaluate(
    logs,
    scores,
    out_dir,
    metrics,
    segment_column,
    primary_estimator,
    interval,
    n_replicates,
    resample,
    reward_model,
    weight_cap,
    confidence,
    baseline,
    seed,
):
    """Evaluate candidate policies on LOGS: IPS, capped IPS, SNIPS and NCIS per feedback signal,
    relative lift over the logged policy (or over --baseline) with bootstrap (or delta-method) intervals.

    Writes report.json, lift.parquet and a self-contained report.html to --out and prints a
    compact table. Nothing is written when an input is invalid (exit code 2).
    """
    from offline_rl.evaluation.evaluate import EvaluationConfig
    from offline_rl.evaluation.files import evaluate_files
    from offline_rl.evaluation.report import format_table

    estimators = ("ips", "capped_ips", "snips", "ncis") + (("dm", "dr") if reward_model else ())
    config = EvaluationConfig(
        estimators=estimators,
        primary_estimator=primary_estimator,
        n_replicates=n_replicates,
        interval=interval if n_replicates else "delta",
        resample=resample,
        weight_cap=weight_cap,
        confidence=confidence,
        baseline=baseline,
        seed=seed,
    )
    result, paths = evaluate_files(
        logs, scores, out_dir, metrics=list(metrics) or None, segment_column=segment_column,
        reward_model=reward_model, config=config,
    )
    click.echo(format_table(result))
    click.echo(f"wrote {paths['html']}, {paths['json']}, {paths['lift']}")

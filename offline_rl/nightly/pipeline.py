"""``run_nightly``: validate -> SQL jobs -> split -> IGL-P (+ QR-IQL) -> decode -> evaluate
-> decide -> report -> ``runs/current``.

Layout of one run, ``<runs_dir>/<date>/``::

    prepared/ik_training_set.parquet     prepared/user_trajectories.parquet
    models/iglp/{model.pt,config.json}   models/qriql/{model.pt,config.json}
    decoded_rewards.parquet              mental_rewards.parquet
    policy_scores.parquet                lift.parquet  report.json  report.html
    manifest.json

Hold-out and decision
---------------------
After the SQL jobs the window is cut in time (:mod:`offline_rl.nightly.split`): IGL-P and
QR-IQL fit on the events before the cut only, and the candidate policy is scored
(``policy_scores.parquet``) and evaluated on the events at or after it only. The decoded
and mental rewards cover every event (column ``split``: ``train`` or ``evaluation``); the
evaluation events are decoded by the fitted model, which never trained on them. The
``evaluate`` step then applies the promotion gate (:mod:`offline_rl.nightly.promotion`),
writes the report with the decision on top, and a promoted run becomes ``runs/current``
(:mod:`offline_rl.nightly.current`) once it is published.

Crash safety and idempotency
----------------------------
A run is built in ``<runs_dir>/.partial/<date>/`` and moved to ``<runs_dir>/<date>/`` by one
rename only once every step has finished, so the run folder never holds a half-written
file. Each finished step leaves a marker (``.steps/<step>.json``) with a fingerprint of what
it read (:func:`step_settings`: the ``to_dict()`` of the config the step uses and the
sha256 of the files it reads, plus the sha256 of the earlier steps' outputs it reads) and
the sha256 of what it wrote. A re-run after a kill finds the partial folder, keeps every
step whose marker still matches, and redoes the rest. Re-running a finished date with the
same inputs and settings (the run's fingerprint covers every step's) is a no-op; ``force``
recomputes it, and with the same seed gives byte-identical Parquet files and models.
``runs/current`` is swapped by a rename after the run folder is published and recomputed
from the manifests on every invocation, so a crash between the two is repaired next time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.loading import validate_logs
from offline_rl.data.prepare import prepare
from offline_rl.nightly.config import NightlyConfig, StepConfigs, step_configs
from offline_rl.nightly.current import run_folders, update_current
from offline_rl.nightly.manifest import (
    MANIFEST_SCHEMA_VERSION,
    git_sha,
    library_versions,
    sha256_file,
    sql_file_hashes,
)
from offline_rl.nightly.partitions import select_partition
from offline_rl.nightly.progress import Progress, format_summary
from offline_rl.nightly.promotion import SignalCheck, decide
from offline_rl.nightly.split import (
    TemporalSplit,
    is_evaluation,
    temporal_split,
    training_trajectories,
)

logger = logging.getLogger(__name__)

STEPS = ("validate", "prepare", "fit_igl", "fit_qriql", "evaluate")
#: The earlier steps whose outputs each step reads (their sha256 enter its fingerprint).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "validate": (),
    "prepare": (),
    "fit_igl": ("prepare",),
    "fit_qriql": ("prepare",),
    "evaluate": ("prepare", "fit_igl", "fit_qriql"),
}
#: The candidate policy's name in ``policy_scores.parquet``, the lift table and the gate.
POLICY = "igl_p"


@dataclass(frozen=True, kw_only=True)
class StepRecord:
    """What a finished step read, wrote and measured."""

    name: str
    fingerprint: str
    outputs: dict[str, str]
    rows: dict[str, int]
    metrics: dict[str, Any]
    seconds: float
    reused: bool = False


@dataclass(frozen=True, kw_only=True)
class NightlyResult:
    """Where the run is and what it did."""

    run_dir: Path
    date: str
    up_to_date: bool
    steps: dict[str, StepRecord] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    current: str | None = None
    """The run ``runs/current`` points at after this invocation (None: no promoted run yet)."""

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def decision(self) -> str | None:
        """``promoted`` or ``held_back`` (None for a manifest written before the gate existed)."""
        return (self.manifest.get("promotion") or {}).get("decision")

    def summary(self) -> str:
        """What a person reads the morning after: the decision and why, steps, lift, where to look."""
        if self.up_to_date:
            decision = self.decision or "no decision recorded"
            return (f"run {self.date} is up to date ({decision.replace('_', ' ')}): {self.run_dir}\n"
                    f"  current: {self.current or 'no promoted run'}\n  report: {self.report_path}")
        return format_summary(self.run_dir, self.manifest, current=self.current)


class _Run:
    """The state of one run being built in its partial folder."""

    def __init__(self, partial: Path, progress: Progress) -> None:
        self.dir = partial
        self.progress = progress
        self.records: dict[str, StepRecord] = {}

    def step(self, name: str, settings: dict[str, Any], work: Callable[[], tuple[dict[str, Path], dict[str, int], dict[str, Any]]]) -> StepRecord:
        fingerprint = _fingerprint({"step": name, "settings": settings, "upstream": self.output_hashes(*UPSTREAM[name])})
        marker = self.dir / ".steps" / f"{name}.json"
        if marker.is_file():
            recorded = json.loads(marker.read_text())
            if recorded["fingerprint"] == fingerprint and all(
                (self.dir / relative).is_file() and sha256_file(self.dir / relative) == digest
                for relative, digest in recorded["outputs"].items()
            ):
                record = StepRecord(**{**recorded, "reused": True})
                self.records[name] = record
                logger.info("%s: reused from an earlier attempt", name)
                return record
        started = time.perf_counter()
        self.progress.start(name)
        outputs, rows, metrics = work()
        record = StepRecord(
            name=name,
            fingerprint=fingerprint,
            outputs={str(path.relative_to(self.dir)): sha256_file(path) for path in sorted(outputs.values())},
            rows=rows,
            metrics=metrics,
            seconds=round(time.perf_counter() - started, 3),
        )
        atomic_write_text(marker, json.dumps(_record_dict(record), indent=2, sort_keys=True) + "\n")
        self.records[name] = record
        self.progress.finish()
        return record

    def output_hashes(self, *names: str) -> dict[str, str]:
        """sha256 of the outputs of the steps ``names`` that ran (a skipped step has none)."""
        return {
            name: digest for step in names if step in self.records
            for name, digest in self.records[step].outputs.items()
        }


def _record_dict(record: StepRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "fingerprint": record.fingerprint,
        "outputs": record.outputs,
        "rows": record.rows,
        "metrics": record.metrics,
        "seconds": record.seconds,
    }


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def run_nightly(config: NightlyConfig, *, force: bool = False, quiet: bool = False) -> NightlyResult:
    """Run (or resume, or confirm up to date) the nightly job described by ``config``.

    ``quiet`` hides the progress bar; :meth:`NightlyResult.summary` is the closing report.
    A held-back run is a normal outcome (``result.decision``), not an exception.
    """
    partition = select_partition(config.logs, config.date, window_days=config.window_days)
    runs = Path(config.runs_dir)
    final = runs / partition.date
    partial = runs / ".partial" / partition.date
    configs = step_configs(config)
    warm_from = _previous_model(runs, partition.date) if config.warm_start else None
    input_hashes = {str(path): sha256_file(path) for path in partition.files}
    settings = step_settings(configs, input_hashes=input_hashes, sql_hashes=sql_file_hashes(), warm_from=warm_from,
                             window_dates=partition.window_dates)
    run_fingerprint = _fingerprint({"config": _effective_settings(config, partition.date), "steps": settings})

    if (final / "manifest.json").is_file() and not force:
        manifest = json.loads((final / "manifest.json").read_text())
        if manifest.get("run_fingerprint") == run_fingerprint:
            return NightlyResult(run_dir=final, date=partition.date, up_to_date=True, manifest=manifest,
                                 current=update_current(runs))

    if force and partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet=quiet, total=len(settings))
    run = _Run(partial, progress)
    started_utc = dt.datetime.now(dt.UTC)
    files = [str(path) for path in partition.files]
    run.step("validate", settings["validate"], lambda: _validate(files, configs))
    run.step("prepare", settings["prepare"], lambda: _prepare(files, partial, configs))
    split = _split(partial, configs, partition.window_dates)
    logger.debug("hold-out: %s", split.describe())
    run.step("fit_igl", settings["fit_igl"], lambda: _fit_igl(partial, configs, warm_from, split))
    if "fit_qriql" in settings:
        run.step("fit_qriql", settings["fit_qriql"], lambda: _fit_qriql(partial, configs, split))
    run.step("evaluate", settings["evaluate"], lambda: _evaluate(partial, configs, split, run.records))
    progress.close()

    promotion = run.records["evaluate"].metrics["promotion"]
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "run_id": f"{partition.date}-{run_fingerprint[:12]}",
        "run_fingerprint": run_fingerprint,
        "date": partition.date,
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "libraries": library_versions(),
        "config": config.to_dict(),
        "seeds": {"run": config.seed, "bootstrap": config.seed},
        "warm_started_from": str(warm_from) if warm_from else None,
        "inputs": input_hashes,
        "window_dates": list(partition.window_dates),
        "split": split.to_dict(),
        "promotion": promotion,
        "sql_files": settings["prepare"]["sql"],
        "rows": {name: record.rows for name, record in run.records.items()},
        "metrics": {name: record.metrics for name, record in run.records.items()},
        "wall_seconds": {name: record.seconds for name, record in run.records.items()},
        "reused_steps": [name for name, record in run.records.items() if record.reused],
        "outputs": {relative: digest for record in run.records.values() for relative, digest in record.outputs.items()},
        "input_rows": run.records["validate"].rows.get("logs"),
    }
    atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(partial / ".steps", ignore_errors=True)
    _publish(partial, final)
    current = update_current(runs)
    return NightlyResult(run_dir=final, date=partition.date, up_to_date=False, steps=dict(run.records),
                         manifest=manifest, current=current)


def _publish(partial: Path, final: Path) -> None:
    """Move the finished run into place; an older run of the same date is replaced whole."""
    if final.exists():
        trash = final.parent / ".partial" / f".replaced-{final.name}-{os.getpid()}"
        os.replace(final, trash)
        os.replace(partial, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(partial, final)


def _effective_settings(config: NightlyConfig, date: str) -> dict[str, Any]:
    settings = config.to_dict()
    settings.update({"date": date})
    settings.pop("runs_dir", None)
    settings.pop("logs", None)
    return settings


def step_settings(
    configs: StepConfigs,
    *,
    input_hashes: dict[str, str],
    sql_hashes: dict[str, str],
    warm_from: Path | None,
    window_dates: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """What each step of the run reads besides earlier steps' outputs: its fingerprint.

    A step's settings are the ``to_dict()`` of the config it runs with (every field, so a
    field added to the config is covered without touching this function) and the sha256
    of the files it reads. The steps after the split also read the hold-out settings and
    the window's days (the cut is a function of those and of the prepared events); the
    ``evaluate`` step also the promotion rule. Steps the run skips (QR-IQL without
    ``fit_qriql``) are absent.
    """
    actions = _file_hash(configs.actions)
    holdout = {"config": configs.holdout.to_dict(), "window_dates": list(window_dates)}
    settings: dict[str, dict[str, Any]] = {
        "validate": {"inputs": input_hashes, "vocabulary": configs.vocabulary},
        "prepare": {"inputs": input_hashes, "sql": sql_hashes, "vocabulary": configs.vocabulary,
                    "config": configs.prepare.to_dict()},
        "fit_igl": {
            "config": configs.igl.to_dict(),
            "actions": actions,
            "warm_from": str(warm_from) if warm_from else None,
            "warm_hash": _directory_hash(warm_from) if warm_from else None,
            "holdout": holdout,
        },
    }
    if configs.qriql is not None:
        settings["fit_qriql"] = {"config": configs.qriql.to_dict(), "actions": actions, "holdout": holdout}
    settings["evaluate"] = {"config": configs.evaluation.to_dict(), "segments": _file_hash(configs.segments),
                            "holdout": holdout, "promotion": configs.promotion.to_dict()}
    return settings


def _file_hash(path: str | None) -> str | None:
    return sha256_file(path) if path else None


def _directory_hash(folder: Path) -> str:
    return _fingerprint({str(path.relative_to(folder)): sha256_file(path) for path in sorted(folder.rglob("*")) if path.is_file() and path.suffix in (".pt", ".json")})


def _previous_model(runs: Path, date: str) -> Path | None:
    """The IGL-P model of the newest finished run before ``date`` (whatever its decision)."""
    earlier = [
        run for run in run_folders(runs)
        if run.name < date and (run / "models" / "iglp" / "model.pt").is_file()
    ]
    return earlier[-1] / "models" / "iglp" if earlier else None


# ------------------------------------------------------------------------------------ steps


def _validate(files: list[str], config: StepConfigs):
    summary = validate_logs(files, vocabulary=config.vocabulary)
    metrics = {"users": summary.users, "actions": summary.actions, "signals": summary.signals, "files": summary.files}
    return {}, {"logs": summary.rows}, metrics


def _prepare(files: list[str], partial: Path, config: StepConfigs):
    result = prepare(files, partial / "prepared", config=config.prepare, vocabulary=config.vocabulary)
    return dict(result.outputs), dict(result.rows), {}


def _actions(config: StepConfigs) -> pl.DataFrame | None:
    if config.actions is None:
        return None
    from offline_rl.data.loading import load_actions

    return load_actions(config.actions)


def _split(partial: Path, config: StepConfigs, window_dates: tuple[str, ...]) -> TemporalSplit:
    ts = pl.read_parquet(partial / "prepared" / "ik_training_set.parquet", columns=["ts"])["ts"]
    return temporal_split(ts, window_dates, config.holdout)


def _fit_igl(partial: Path, config: StepConfigs, warm_from: Path | None, split: TemporalSplit):
    from offline_rl.igl.folder import fit_to_folder
    from offline_rl.igl.learner import IGLP

    frame = drop_hidden_reward(pl.read_parquet(partial / "prepared" / "ik_training_set.parquet"))
    held_out = frame.filter(is_evaluation(split.cut))
    train = frame.filter(~is_evaluation(split.cut))
    del frame
    model_dir = partial / "models" / "iglp"
    decoded_path = partial / "decoded_rewards.parquet"
    fitted = fit_to_folder(
        train, model_dir, config=config.igl, decoded_path=decoded_path, actions=_actions(config),
        warm_start=IGLP.load(warm_from) if warm_from is not None else None,
    )
    # the evaluation events are decoded and scored by the fitted model, which never saw them
    evaluated = fitted.model.decode(held_out)
    decoded = pl.concat([
        fitted.decoded.with_columns(pl.lit("train").alias("split")),
        evaluated.with_columns(pl.lit("evaluation").alias("split")),
    ])
    atomic_write_parquet(decoded, decoded_path)
    probabilities = fitted.model.predict_proba(held_out)
    index = held_out["action_index"].to_numpy()
    scores = pl.DataFrame({"event_id": held_out["event_id"], POLICY: probabilities[np.arange(held_out.height), index]})
    atomic_write_parquet(scores, partial / "policy_scores.parquet")
    outputs = {
        "model": model_dir / "model.pt",
        "model_config": model_dir / "config.json",
        "decoded_rewards": decoded_path,
        "policy_scores": partial / "policy_scores.parquet",
    }
    metrics = {**fitted.metrics, **held_out_signal(evaluated, held_out["weight"].to_numpy())}
    rows = {"train_events": train.height, "evaluation_events": held_out.height, "decoded_rewards": decoded.height}
    return outputs, rows, metrics


def held_out_signal(decoded: pl.DataFrame, weight: np.ndarray) -> dict[str, Any]:
    """The IK model's check on rows it never trained on: weighted NLL against no-signal.

    ``NLL = sum w (-log P_hat(a | x, y)) / sum w`` over the rows, with ``w`` the
    ``ik_training_set`` weight, against ``sum w log K / sum w``, what the no-signal model
    P = 1/K scores; the model found signal when it is clearly below
    (:func:`~offline_rl.igl.ik_model.left_no_signal`). The same quantities as the learner's
    own held-out check, measured on the run's evaluation events.
    """
    from offline_rl.igl.ik_model import left_no_signal

    p_hat = decoded["p_hat"].to_numpy()
    log_k = np.log(decoded["num_candidates"].to_numpy().astype(np.float64))
    total = max(float(weight.sum()), 1e-12)
    nll = float((weight * -np.log(np.maximum(p_hat, 1e-300))).sum() / total)
    no_signal = float((weight * log_k).sum() / total)
    return {
        "evaluation_ik_nll": round(nll, 6),
        "evaluation_no_signal_nll": round(no_signal, 6),
        "evaluation_ik_found_signal": bool(left_no_signal(nll, no_signal)),
    }


def read_segments(path: str | os.PathLike[str], user_id_type: pl.DataType) -> pl.DataFrame:
    """The ``user_id, segment`` table, checked: both columns present, one segment per user."""
    frame = pl.read_parquet(path)
    missing = [name for name in ("user_id", "segment") if name not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column {missing[0]!r}; a segments table needs user_id and segment; found {frame.columns}")
    frame = frame.select(pl.col("user_id").cast(user_id_type, strict=False), pl.col("segment").cast(pl.String))
    if frame["user_id"].null_count():
        row = frame["user_id"].is_null().arg_max()
        raise ValueError(f"{path}: column 'user_id', row {row}: value does not convert to the logs' user_id type {user_id_type}")
    duplicated = frame.filter(pl.col("user_id").is_duplicated())
    if duplicated.height:
        raise ValueError(f"{path}: column 'user_id', value {duplicated['user_id'][0]!r} has several segments; expected one per user")
    return frame.sort("user_id")


def _fit_qriql(partial: Path, config: StepConfigs, split: TemporalSplit):
    from offline_rl.qriql.learner import QRIQL

    trajectories = drop_hidden_reward(pl.read_parquet(partial / "prepared" / "user_trajectories.parquet"))
    train = training_trajectories(trajectories, split.cut)
    learner = QRIQL(config.qriql).fit(train, actions=_actions(config))
    model_dir = partial / "models" / "qriql"
    learner.save(model_dir)
    side = trajectories.select(
        pl.when(is_evaluation(split.cut)).then(pl.lit("evaluation")).otherwise(pl.lit("train")).alias("split")
    )
    rewards = learner.mental_rewards(trajectories).with_columns(side["split"])
    atomic_write_parquet(rewards, partial / "mental_rewards.parquet")
    outputs = {"model": model_dir / "model.pt", "model_config": model_dir / "config.json",
               "mental_rewards": partial / "mental_rewards.parquet"}
    return outputs, {"train_steps": train.height, "mental_rewards": rewards.height}, {}


def _evaluate(partial: Path, config: StepConfigs, split: TemporalSplit, records: dict[str, StepRecord]):
    from offline_rl.evaluation.evaluate import evaluate_logs
    from offline_rl.evaluation.report import write_report

    logs = pl.read_parquet(partial / "prepared" / "ik_training_set.parquet",
                           columns=["event_id", "ts", "user_id", "propensity", "feedback"])
    logs = logs.filter(is_evaluation(split.cut)).drop("ts")
    scores = pl.read_parquet(partial / "policy_scores.parquet")
    joined = logs.join(scores, on="event_id", how="left", maintain_order="left")
    written: dict[str, Path] = {}
    segment_column = None
    segments = None
    if config.segments:
        segments = read_segments(config.segments, joined.schema["user_id"])
        joined = joined.join(segments, on="user_id", how="left", maintain_order="left").with_columns(
            pl.col("segment").fill_null("(none)")
        )
        segment_column = "segment"
        written["user_segments"] = atomic_write_parquet(segments, partial / "user_segments.parquet")
    result = evaluate_logs(
        joined,
        {POLICY: joined[POLICY].to_numpy()},
        segments=segment_column,
        config=config.evaluation,
    )
    estimator = result.config.primary_estimator
    primary = result.lift().filter(pl.col("estimator") == estimator, pl.col("policy") == POLICY)
    lift = {row["metric"]: row for row in primary.iter_rows(named=True)}
    fitted = records["fit_igl"].metrics
    checks = signal_checks(fitted, split.evaluation_events)
    promotion = decide(config.promotion, lift=lift, signal_checks=checks,
                       evaluation_events=split.evaluation_events, estimator=estimator, policy=POLICY)
    sections = _report_sections(partial, split, segments, promotion, checks, has_qriql="fit_qriql" in records)
    written.update(write_report(result, partial, sections=sections))
    metrics = {
        metric: {"estimator": row["estimator"], "lower": row["lower"], "point": row["point"], "upper": row["upper"],
                 "reliable": row["reliable"], "reliability_reason": row["reliability_reason"]}
        for metric, row in lift.items()
    }
    return dict(written), {"evaluation_events": joined.height, "lift": result.lift().height}, {
        "lift": metrics, "promotion": promotion.to_dict()}


def signal_checks(fit_metrics: dict[str, Any], evaluation_events: int) -> list[SignalCheck]:
    """The IK model's held-out checks of a ``fit_igl`` step: on the evaluation events, and the
    learner's own (None when it made none: one restart, or a warm start)."""
    return [
        SignalCheck(where=f"the {evaluation_events:,} evaluation events",
                    held_out_nll=fit_metrics.get("evaluation_ik_nll"),
                    no_signal_nll=fit_metrics.get("evaluation_no_signal_nll"),
                    found_signal=fit_metrics.get("evaluation_ik_found_signal")),
        SignalCheck(where="the learner's own held-out training rows",
                    held_out_nll=fit_metrics.get("ik_held_out_nll"),
                    no_signal_nll=fit_metrics.get("ik_no_signal_nll"),
                    found_signal=fit_metrics.get("ik_found_signal")),
    ]


#: Steps of a session beyond this are pooled out of the report's mental-reward plot.
_MAX_REPORTED_STEP = 30


def _report_sections(partial: Path, split: TemporalSplit, segments: pl.DataFrame | None, promotion, checks,
                     *, has_qriql: bool):
    """What the run adds to the evaluation report, all on the evaluation events."""
    from offline_rl.data.sql_jobs import run_sql_job
    from offline_rl.evaluation.report import Decision, ReportSections

    decoded = pl.read_parquet(partial / "decoded_rewards.parquet").filter(pl.col("split") == "evaluation")
    user_segments = segments if segments is not None else pl.DataFrame(
        schema={"user_id": decoded.schema["user_id"], "segment": pl.String})
    views = {"decoded_rewards": decoded, "user_segments": user_segments}
    by_signal = pl.from_arrow(run_sql_job("decoded_reward_by_signal", views))
    extremes = pl.from_arrow(run_sql_job("extreme_rate_by_segment", views))
    by_step = None
    if has_qriql:
        mental = pl.read_parquet(partial / "mental_rewards.parquet",
                                 columns=["step", "response", "mental_reward", "split"])
        by_step = (
            mental.filter(pl.col("split") == "evaluation", pl.col("step") < _MAX_REPORTED_STEP)
            .group_by("step", "response")
            .agg(pl.len().alias("events"), pl.col("mental_reward").mean().alias("mean_mental_reward"))
            .sort("step", "response")
        )
    return ReportSections(
        decision=Decision(decision=promotion.decision, reasons=promotion.reasons),
        split=split.describe(),
        decoded_by_signal=by_signal,
        extreme_rate_by_segment=extremes,
        signal_checks=tuple(check.to_dict() for check in checks),
        mental_reward_by_step=by_step,
    )

"""Evaluation from files to a report folder: the library call behind ``offline-rl evaluate``.

Reads canonical logs and candidate-policy scores (a Parquet file or a fitted run folder,
:mod:`.scores`), evaluates them (:func:`~offline_rl.evaluation.evaluate.evaluate_logs`) and
writes ``report.json``, ``lift.parquet`` and ``report.html`` (:mod:`.report`). Nothing is
written when an input is invalid: every check runs before the report is written.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from offline_rl.data.loading import load_logs
from offline_rl.evaluation.evaluate import EvaluationConfig, EvaluationResult, evaluate_logs
from offline_rl.evaluation.report import write_report
from offline_rl.evaluation.reward_models import load_reward_models
from offline_rl.evaluation.scores import load_policy_scores, resolve_scores


def evaluate_files(
    logs: str | os.PathLike[str],
    scores: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] | None = None,
    segment_column: str | None = None,
    reward_model: str | os.PathLike[str] | None = None,
    config: EvaluationConfig | None = None,
) -> tuple[EvaluationResult, dict[str, Path]]:
    """Evaluate the candidate policies of ``scores`` on ``logs`` and write the report.

    Parameters
    ----------
    logs
        Canonical logs: a file, a folder or a glob (:func:`offline_rl.data.loading.load_logs`).
    scores
        Parquet with ``event_id`` and one probability column per candidate policy, or a
        fitted run folder holding ``policy_scores.parquet`` (and optionally a learning curve,
        plotted in the report).
    out_dir
        Folder for ``report.json``, ``lift.parquet`` and ``report.html``.
    reward_model
        Optional Parquet of reward-model predictions for DM and DR
        (:func:`~offline_rl.evaluation.reward_models.load_reward_models`); models of metrics
        not in ``metrics`` are not evaluated.
    metrics, segment_column, config
        As in :func:`~offline_rl.evaluation.evaluate.evaluate_logs` (``segment_column`` names
        a column of the logs; ``config`` defaults to ``EvaluationConfig()``).

    Returns
    -------
    The evaluation result and the paths written (keys ``json``, ``lift``, ``html``).
    """
    frame = load_logs(logs)
    scores_path, curves = resolve_scores(scores)
    policies = load_policy_scores(scores_path, frame["event_id"])
    reward_models = None
    if reward_model is not None:
        reward_models = load_reward_models(
            reward_model,
            frame["event_id"],
            policies=list(policies),
            signals=frame["feedback"].drop_nulls().unique().to_list(),
        )
        if metrics:
            reward_models = {m: model for m, model in reward_models.items() if m in metrics}
    result = evaluate_logs(
        frame, policies, metrics=metrics, segments=segment_column, reward_models=reward_models,
        config=config or EvaluationConfig(),
    )
    if curves:
        result = dataclasses.replace(result, learning_curves=curves)
    return result, write_report(result, out_dir)

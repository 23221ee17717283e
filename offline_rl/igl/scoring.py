"""Score decisions with a fitted IGL-P policy: one row per candidate of every decision.

:func:`score_to_file` is what ``offline-rl score MODEL LOGS --out FILE`` runs. MODEL is the
folder ``offline-rl fit-igl --out`` wrote or a nightly run folder (``runs/<date>/``, whose
model is in ``models/iglp``, or ``runs/current``, the link to the run the nightly serves); LOGS are decisions in the canonical log schema, validated like
every input (:data:`~offline_rl.schema.DECISIONS_TABLE`: ``action``, ``propensity`` and
``feedback`` may be absent, since a decision to score need not have been made or answered).

The output (Parquet, written atomically: nothing is left behind by a failure) has, for
every decision and every candidate, in the decision's order and the candidates' order:

=============  =========  =====================================================================
column         type       meaning
=============  =========  =====================================================================
event_id       id         the decision
action         int64      the candidate
probability    float64    P(action | x) under the policy's exploration rule (sums to 1 per
                          decision): what to sample from when serving
greedy         bool       the candidate the policy rates best (argmax of its reward estimate,
                          first on ties): exactly one per decision, what to show when not
                          exploring
=============  =========  =====================================================================

A boolean column rather than a ``greedy_action`` column keeps the table long and
homogeneous (one row per candidate), so it joins and aggregates without a second shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from offline_rl.artifacts import CONFIG_FILE
from offline_rl.data.atomic import atomic_write_parquet
from offline_rl.igl.learner import IGLP

#: Where a nightly run folder keeps its IGL-P model.
NIGHTLY_MODEL = Path("models") / "iglp"

#: Columns of the scores table.
SCORE_COLUMNS = ("event_id", "action", "probability", "greedy")


def resolve_model_dir(model: str | os.PathLike[str]) -> Path:
    """The IGL-P artifact folder of ``model``: itself (a ``fit-igl --out`` folder) or
    ``model/models/iglp`` (a nightly run folder, ``runs/<date>``, or ``runs/current``, the
    nightly's symbolic link to the run it serves).

    Links are resolved once, here, so the returned folder names the run actually scored and
    a link swapped by the next nightly run while scoring cannot mix two models.
    """
    path = Path(model)
    if path.is_symlink() and not path.exists():
        raise FileNotFoundError(
            f"no IGL-P model at '{path}': it is a link to '{os.readlink(path)}', which does "
            f"not exist.")
    resolved = path.resolve()
    for folder in (resolved, resolved / NIGHTLY_MODEL):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(
        f"no IGL-P model at '{path}': expected {CONFIG_FILE} there (a fit-igl --out folder) "
        f"or in {path / NIGHTLY_MODEL} (a nightly run folder)."
    )


def score_decisions(model: IGLP, decisions: pl.DataFrame) -> pl.DataFrame:
    """The scores table (module docstring) of ``decisions`` (``event_id``, ``user_id``,
    ``context``, ``candidate_actions``) under ``model``'s policy."""
    probabilities = model.predict_proba(decisions)
    scores = model.predict_scores(decisions)
    lists = decisions["candidate_actions"]
    k = lists.list.len().to_numpy()
    mask = np.arange(probabilities.shape[1])[None, :] < k[:, None]
    greedy = np.zeros_like(mask)
    greedy[np.arange(decisions.height), np.argmax(scores, axis=1)] = True
    return pl.DataFrame({
        "event_id": decisions["event_id"].gather(np.repeat(np.arange(decisions.height), k)),
        "action": lists.explode().cast(pl.Int64),
        "probability": pl.Series(probabilities[mask], dtype=pl.Float64),
        "greedy": pl.Series(greedy[mask], dtype=pl.Boolean),
    })


@dataclass(frozen=True)
class ScoreOutputs:
    """What :func:`score_to_file` wrote: where, from which model, how many decisions/rows."""

    path: Path
    model_dir: Path
    decisions: int
    rows: int


def score_to_file(
    model: str | os.PathLike[str],
    logs,
    out: str | os.PathLike[str],
    *,
    vocabulary: tuple[str, ...] | None = None,
) -> ScoreOutputs:
    """Load the model (:func:`resolve_model_dir`), load and validate ``logs`` (a file, glob or
    folder; :func:`~offline_rl.data.loading.load_logs` with the decisions table), score them
    and write the table to ``out`` atomically."""
    from offline_rl.data.hidden_reward import drop_hidden_reward
    from offline_rl.data.loading import load_logs
    from offline_rl.schema import DECISIONS_TABLE

    model_dir = resolve_model_dir(model)
    fitted = IGLP.load(model_dir)
    decisions = drop_hidden_reward(load_logs(logs, vocabulary=vocabulary, table=DECISIONS_TABLE))
    table = score_decisions(fitted, decisions)
    path = atomic_write_parquet(table, out)
    return ScoreOutputs(path, model_dir, decisions.height, table.height)

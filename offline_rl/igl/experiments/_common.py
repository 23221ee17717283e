"""Helpers the experiments share: frames from simulator rounds, metrics, table text."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl


def rounds_frame(rounds) -> pl.DataFrame:
    """A policy-input frame (user_id, context, candidate_actions) from simulator ``Rounds``."""
    lists = [row[:k].tolist() for row, k in zip(rounds.candidate_actions,
                                                  rounds.num_candidates, strict=True)]
    return pl.DataFrame(
        {
            "user_id": np.asarray(rounds.user_id, dtype=np.int64),
            "context": pl.Series(np.asarray(rounds.context, dtype=np.float32).tolist(),
                                 dtype=pl.List(pl.Float32)),
            "candidate_actions": pl.Series(lists, dtype=pl.List(pl.Int64)),
        }
    )


def precision_recall_f1(decoded_positive: np.ndarray, true_positive: np.ndarray) -> dict:
    """Precision, recall and F1 of a binary decoded reward against the hidden one."""
    d = np.asarray(decoded_positive, dtype=bool)
    t = np.asarray(true_positive, dtype=bool)
    tp = float((d & t).sum())
    precision = tp / d.sum() if d.sum() else 0.0
    recall = tp / t.sum() if t.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def kmeans_purity(points: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> float:
    """Purity of a 2-means clustering of ``points`` against binary ``labels``."""
    from sklearn.cluster import KMeans

    clusters = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(points)
    labels = np.asarray(labels, dtype=bool)
    purity = 0
    for c in (0, 1):
        members = labels[clusters == c]
        if members.size:
            purity += max(int(members.sum()), int((~members).sum()))
    return purity / labels.size


def format_table(title: str, frame: pl.DataFrame) -> str:
    """``title`` over ``frame`` as text, every row and column shown, floats to 4 decimals."""
    with pl.Config(tbl_rows=100, tbl_cols=30, tbl_width_chars=200, float_precision=4):
        return f"{title}\n{frame}"


def failure_line(failures: list[str]) -> str:
    """The one line that lists an experiment's failed checks."""
    return "FAILED: " + "; ".join(failures)


def log_result(logger: logging.Logger, result: Any) -> None:
    """An experiment result's ``summary()`` at INFO, and its failed checks also at WARNING
    (so a caller that shows only warnings still learns that a check failed)."""
    logger.info("%s", result.summary())
    if result.failures:
        logger.warning("%s", failure_line(result.failures))

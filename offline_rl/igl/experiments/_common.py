"""Helpers the experiments share: frames from simulator rounds, metrics, table text."""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


def min_median_max(table: pl.DataFrame, columns: list[str], *, by: list[str] | None = None
                   ) -> pl.DataFrame:
    """One row per (``by`` group, column): the min, median and max over the table's rows
    (the seeds), and how many seeds there were. Seeds are data: report the range, not one.
    The column names go in a ``quantity`` column."""
    by = by or []
    long = table.unpivot(index=by, on=columns, variable_name="quantity", value_name="value")
    return (
        long.group_by([*by, "quantity"], maintain_order=True)
        .agg(
            pl.col("value").cast(pl.Float64).min().alias("min"),
            pl.col("value").cast(pl.Float64).median().alias("median"),
            pl.col("value").cast(pl.Float64).max().alias("max"),
            pl.len().alias("seeds"),
        )
    )


def claims_by_seed(claims: pl.DataFrame) -> pl.DataFrame:
    """Each claim (and its algorithm / alpha columns, where present): the seeds it holds on,
    the seeds it fails on. ``claims`` has ``seed``, ``claim`` and ``passed`` columns."""
    keys = [c for c in ("claim", "algorithm", "alpha") if c in claims.columns]
    return (
        claims.group_by(keys, maintain_order=True)
        .agg(
            pl.col("seed").filter(pl.col("passed")).alias("holds_on"),
            pl.col("seed").filter(~pl.col("passed")).alias("fails_on"),
        )
        .with_columns(
            pl.col("holds_on").list.len().alias("holds"),
            pl.col("fails_on").list.len().alias("fails"),
        )
    )


def paired_ratio_interval(candidate: np.ndarray, baseline: np.ndarray, *,
                          clusters: np.ndarray | None = None, confidence: float = 0.95
                          ) -> tuple[float, float, float]:
    """``[lower, point, upper]`` of ``sum(candidate) / sum(baseline)``, the two measured on
    the same rounds (paired), with a delta-method interval clustered by ``clusters`` (users
    who repeat are the resampling unit; None: every round its own cluster).

    With per-cluster sums ``c_u`` and ``b_u`` and ``R = sum c / sum b``, the influence of a
    cluster is ``c_u - R b_u`` and ``Var(R) = m / (m - 1) * sum_u (c_u - R b_u)^2 / (sum_u b_u)^2``
    (the ratio-estimator variance; the pairing enters through the covariance of c_u and b_u).
    """
    from scipy.special import ndtri

    c = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if c.shape != b.shape or c.ndim != 1:
        raise ValueError(f"Expected two 1-d arrays of one shape, but found {c.shape} and {b.shape}.")
    if clusters is None:
        c_u, b_u = c, b
    else:
        _, codes = np.unique(np.asarray(clusters), return_inverse=True)
        c_u, b_u = np.bincount(codes, weights=c), np.bincount(codes, weights=b)
    m = c_u.size
    total_b = b_u.sum()
    if total_b == 0 or m < 2:
        return float("nan"), float("nan"), float("nan")
    ratio = c_u.sum() / total_b
    variance = m / (m - 1) * ((c_u - ratio * b_u) ** 2).sum() / total_b**2
    half = float(ndtri(0.5 + confidence / 2)) * np.sqrt(variance)
    return float(ratio - half), float(ratio), float(ratio + half)


#: The name suffix of IGL-P(3) with alpha estimated from the logs (``IGLPConfig(alpha=None)``).
ESTIMATED = "est"


def three_states_name(alpha: float | None) -> str:
    """The name of IGL-P(3) at ``alpha`` in the tables (``None``: alpha estimated)."""
    return f"IGL-P(3) a={ESTIMATED if alpha is None else f'{alpha:g}'}"


def alpha_of_name(name: str) -> float | None:
    """The fixed alpha in a :func:`three_states_name` (None for the estimated one)."""
    value = name.split("=", 1)[1]
    return None if value == ESTIMATED else float(value)


@dataclass
class AlphaSensitivity:
    """IGL-P(3) as shipped (alpha estimated) and the same decoding at fixed alphas.

    ``estimated`` is the learner with ``alpha=None``; ``fixed[a]`` is the policy class
    (:class:`~offline_rl.igl.bandit.RewardBandit`, the same ``PolicyNet`` trained by the same
    ``train_policy_with`` on the same importance weights) fitted on Eq. (4) at alpha = a of the
    *same* out-of-fold decoding: the IK models do not depend on alpha (it enters Eq. 4 only),
    so refitting them per alpha would repeat the identical cross-fitted IK fit. The one
    difference from ``IGLP(alpha=a).fit`` is the policy's initial weights (RewardBandit seeds
    before building the network; IGLP builds it after the IK fit).
    """

    estimated: Any
    fixed: dict[float, Any]
    decoded: pl.DataFrame
    fit_seconds: dict[str, float]

    def models(self) -> dict[str, Any]:
        """Every IGL-P(3) policy by table name, fixed alphas first."""
        named = {three_states_name(a): m for a, m in self.fixed.items()}
        named[three_states_name(None)] = self.estimated
        return named


def fit_alpha_sensitivity(config, frame: pl.DataFrame, alphas, *, actions=None
                          ) -> AlphaSensitivity:
    """One IGL-P(3) fit with alpha estimated, then one policy per fixed alpha on its
    out-of-fold decoded rows (see :class:`AlphaSensitivity`)."""
    import time

    from offline_rl.igl.bandit import RewardBandit
    from offline_rl.igl.decoder import decode_rewards
    from offline_rl.igl.learner import IGLP

    if config.states != 3:
        raise ValueError(f"fit_alpha_sensitivity needs states == 3; got {config.states}.")
    start = time.perf_counter()
    estimated = IGLP(config.replace(alpha=None))
    decoded = estimated.fit_decode(frame, actions=actions)
    seconds = {three_states_name(None): time.perf_counter() - start}
    k_p_hat = decoded["k_p_hat"].to_numpy()
    negative = decoded["definitely_negative"].to_numpy()
    fixed = {}
    for alpha in alphas:
        start = time.perf_counter()
        rewards = decode_rewards(k_p_hat, negative, alpha=alpha, threshold=config.threshold)
        fixed[alpha] = RewardBandit(config.replace(alpha=alpha)).fit(frame, rewards,
                                                                     actions=actions)
        seconds[three_states_name(alpha)] = time.perf_counter() - start
    return AlphaSensitivity(estimated, fixed, decoded, seconds)

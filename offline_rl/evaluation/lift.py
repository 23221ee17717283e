"""Relative lift of a candidate policy over the logged (production) policy, per metric.

.. math::

    \\mathrm{lift}_m = \\frac{\\hat V_m(\\pi)}{\\hat V_m(\\pi_0)} - 1, \\qquad
    \\hat V_m(\\pi_0) = \\frac1n \\sum_i r_{im},

with ``hat V_m(pi)`` any estimator of :mod:`.estimators` on the same logs. Both are
recomputed in every bootstrap replicate from one shared resample, so the interval accounts
for their covariance. Reported as ``[lower, point, upper]`` like IGL-P's Table 1
(relative metric lift over a production baseline, bootstrap 95% regions).

References
----------
Personalized reward learning with interaction-grounded learning (IGL-P), ICLR 2023
submission (igl-p-paper.txt), Table 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from offline_rl.evaluation.design import RewardModel
from offline_rl.evaluation.evaluate import EvaluationConfig, evaluate_arrays

_DEFAULT_CONFIG = EvaluationConfig()


@dataclass(frozen=True)
class Lift:
    """``[lower, point, upper]`` relative lift of one policy on one metric."""

    policy: str
    metric: str
    estimator: str
    lower: float
    point: float
    upper: float

    def __str__(self) -> str:
        return format_lift(self.lower, self.point, self.upper)


def format_lift(lower: float, point: float, upper: float) -> str:
    """``"+3.1% [+1.2%, +5.0%]"`` (NaN shown as ``n/a``)."""

    def show(x: float) -> str:
        return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f}%"

    return f"{show(point)} [{show(lower)}, {show(upper)}]"


def relative_lift(
    *,
    propensity: np.ndarray,
    policies: Mapping[str, np.ndarray],
    rewards: Mapping[str, np.ndarray],
    users: np.ndarray | None = None,
    reward_models: Mapping[str, RewardModel] | None = None,
    config: EvaluationConfig = _DEFAULT_CONFIG,
) -> list[Lift]:
    """Lift of every policy on every metric with the configured estimators and interval.

    A thin layer over :func:`~offline_rl.evaluation.evaluate.evaluate_arrays`.
    """
    result = evaluate_arrays(
        propensity=propensity,
        policies=policies,
        rewards=rewards,
        users=users,
        reward_models=reward_models,
        config=config,
    )
    return lifts_from_frame(result.lift())


def lifts_from_frame(frame: pl.DataFrame) -> list[Lift]:
    """Rows of a lift table as :class:`Lift` objects."""
    return [
        Lift(
            row["policy"],
            row["metric"],
            row["estimator"],
            _f(row["lower"]),
            _f(row["point"]),
            _f(row["upper"]),
        )
        for row in frame.iter_rows(named=True)
    ]


def _f(value) -> float:
    return float("nan") if value is None else float(value)

"""Off-policy evaluation: estimators, AUC, shared-resample bootstrap, lift and reports.

numpy/polars only (no torch). One idea per module:

- :mod:`.estimators`: IPS, capped IPS, SNIPS, NCIS, DM, DR over arrays, with ESS/max weight.
- :mod:`.statistics`: the sufficient-statistics matrix and the functionals of its means.
- :mod:`.design`: every estimator x policy x metric laid out as columns of one matrix.
- :mod:`.bootstrap`: one shared Poisson/multinomial resample; percentile and BCa.
- :mod:`.delta`: closed-form delta-method intervals.
- :mod:`.lift`: relative lift over the logged policy, ``[lower, point, upper]``.
- :mod:`.auc`: exact AUC with ties and weights; grouped (per-user) AUC.
- :mod:`.trajectory_ncis`: MTRec's NCIS over user trajectories, in log space.
- :mod:`.scores`: reading and validating candidate-policy scores.
- :mod:`.evaluate`: :func:`evaluate_logs`, estimates and intervals from logs in memory.
- :mod:`.files`: :func:`evaluate_files`, logs and score files to a report folder (the CLI's call).
- :mod:`.report`: ``report.json``, ``lift.parquet``, ``report.html``, terminal table.
"""

from offline_rl.evaluation.auc import GroupedAUC, grouped_auc, roc_auc
from offline_rl.evaluation.bootstrap import BootstrapResult, bootstrap_functionals
from offline_rl.evaluation.delta import DeltaResult, delta_intervals
from offline_rl.evaluation.design import RewardModel, build_design
from offline_rl.evaluation.estimators import (
    Estimate,
    capped_ips,
    direct_method,
    doubly_robust,
    expected_under_policy,
    importance_weights,
    ips,
    ncis,
    on_policy_mean,
    snips,
    weight_diagnostics,
)
from offline_rl.evaluation.evaluate import (
    EvaluationConfig,
    EvaluationResult,
    evaluate_arrays,
    evaluate_logs,
    metric_rewards,
)
from offline_rl.evaluation.lift import Lift, format_lift, relative_lift
from offline_rl.evaluation.statistics import Functional, reduce_to_units
from offline_rl.evaluation.trajectory_ncis import (
    TrajectoryNCIS,
    ncis_minus_untrained,
    trajectory_ncis,
)


def write_report(result, out_dir):
    """Write ``report.json``, ``lift.parquet`` and ``report.html`` (imports matplotlib lazily)."""
    from offline_rl.evaluation.report import write_report as _write

    return _write(result, out_dir)


__all__ = [
    "BootstrapResult",
    "DeltaResult",
    "Estimate",
    "EvaluationConfig",
    "EvaluationResult",
    "Functional",
    "GroupedAUC",
    "Lift",
    "RewardModel",
    "TrajectoryNCIS",
    "bootstrap_functionals",
    "build_design",
    "capped_ips",
    "delta_intervals",
    "direct_method",
    "doubly_robust",
    "evaluate_arrays",
    "evaluate_logs",
    "expected_under_policy",
    "format_lift",
    "grouped_auc",
    "importance_weights",
    "ips",
    "metric_rewards",
    "ncis",
    "ncis_minus_untrained",
    "on_policy_mean",
    "reduce_to_units",
    "relative_lift",
    "roc_auc",
    "snips",
    "trajectory_ncis",
    "weight_diagnostics",
    "write_report",
]

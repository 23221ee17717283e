"""Evaluate candidate policies on logs: every estimator x policy x metric, with intervals.

:func:`evaluate_logs` is the library function behind ``offline-rl evaluate``; it turns
canonical logs into per-metric rewards ``r_i = 1[feedback_i == signal]``, lays out the
sufficient statistics (:mod:`.design`), resamples them once per replicate
(:mod:`.bootstrap`), adds delta-method intervals (:mod:`.delta`) and weight diagnostics,
and returns an :class:`EvaluationResult` that :func:`write_report` writes to a folder.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import polars as pl

from offline_rl.config import Choice, Config, Integer, Optional, Real, Rule, Strings, Text
from offline_rl.evaluation.bootstrap import bootstrap_functionals
from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.design import ESTIMATORS, RewardModel, build_design
from offline_rl.evaluation.estimators import check_propensity_floor
from offline_rl.evaluation.reliability import assess, zero_positive_upper
from offline_rl.schema import DEFAULT_FEEDBACK_VOCABULARY

#: Version of ``report.json`` (:func:`offline_rl.evaluation.report.report_dict`).
REPORT_SCHEMA_VERSION = "1"

#: Segments beyond this many are refused (a per-segment bar chart of more is unreadable).
MAX_SEGMENTS = 100

_INTERVALS = ("percentile", "bca", "delta")


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig(Config):
    """How to evaluate: validated on construction against its constraint table
    (:mod:`offline_rl.config`), with the shared JSON round trip."""

    estimators: tuple[str, ...] = ESTIMATORS
    """Estimators to report: among ips, capped_ips, snips, ncis, dm, dr (dm/dr only for
    metrics that come with a reward model)."""
    primary_estimator: str = "snips"
    """Estimator shown in the terminal table, the forest plot and the per-segment bars."""
    weight_cap: float = 10.0
    """Cap c of the importance weight for capped IPS and NCIS: wbar = min(pi/p, c)."""
    n_replicates: int = 1000
    """Bootstrap replicates B (0 turns the bootstrap off; delta-method intervals remain)."""
    method: Literal["poisson", "multinomial"] = "poisson"
    """Bootstrap weights: Poisson(1) per unit, or multinomial counts."""
    interval: Literal["percentile", "bca", "delta"] = "percentile"
    """Which interval fills the lower/upper columns: bootstrap percentile, bootstrap BCa,
    or the closed-form delta method. All three are in the estimates table regardless."""
    confidence: float = 0.95
    """Two-sided nominal coverage of every interval."""
    resample: Literal["auto", "events", "users"] = "auto"
    """Resampling unit: users (cluster bootstrap), events (i.i.d. rows), or auto: users
    whenever user ids are given and some user has more than one event, else events. One
    user's events are correlated, so resampling events then gives intervals that are too
    narrow (docs/evaluation.md, "Coverage"). The unit used is written in the report."""
    max_units: int | None = 65536
    """Above this many units, units are summed into this many random blocks before
    resampling (same bootstrap distribution up to O(sqrt(2/max_units)) relative noise in the
    variance; see docs/evaluation.md). None keeps every unit."""
    seed: int = 0
    """Seed of the bootstrap and the block assignment."""
    baseline: str | None = None
    """Candidate policy whose estimated value is the denominator of every other policy's
    lift (e.g. the retrained production model), instead of the logged policy's on-policy
    value. Both values are estimated off-policy from the same logs, with the same estimator
    and the same bootstrap resample."""

    CONSTRAINTS = {
        "estimators": Strings(options=ESTIMATORS, min_length=1),
        "primary_estimator": Choice(ESTIMATORS),
        "weight_cap": Real(0.0, low_open=True),
        "n_replicates": Integer(0),
        "method": Choice(("poisson", "multinomial")),
        "interval": Choice(_INTERVALS),
        "confidence": Real(0.0, 1.0, low_open=True, high_open=True),
        "resample": Choice(("auto", "events", "users")),
        "max_units": Optional(Integer(100)),
        "seed": Integer(0),
        "baseline": Optional(Text()),
    }
    RULES = (
        Rule("primary_estimator", "one of `estimators`",
             lambda c: c.primary_estimator in c.estimators),
        Rule("n_replicates", "0 (no bootstrap) or an int >= 2", lambda c: c.n_replicates != 1),
        Rule("interval", "'delta' when n_replicates == 0 (the others need a bootstrap)",
             lambda c: c.n_replicates > 0 or c.interval == "delta"),
        Rule("baseline",
             "None (lift over the logged policy) or the name of a candidate policy other than 'logged'",
             lambda c: c.baseline != "logged"),
    )


@dataclass(frozen=True)
class EvaluationResult:
    """Everything :func:`write_report` renders.

    Attributes
    ----------
    estimates
        One row per (policy, metric, estimator, quantity), quantity ``"value"`` or
        ``"lift"`` (``V_candidate / V_logged - 1``); the logged policy's on-policy value is
        policy ``"logged"``, estimator ``"on_policy"``. Columns: point, lower, upper (from
        ``config.interval``), reliable and reliability_reason (:mod:`.reliability`; null
        reason when reliable), effective_positives, standard_error (bootstrap, else delta),
        percentile_lower/upper, bca_lower/upper, delta_lower/upper, delta_standard_error,
        dropped_replicates, ess, max_weight (the row's policy), baseline_ess and
        baseline_max_weight (a lift's denominator: the logs, n and 1, or the baseline
        policy), n. With no positive in the numerator every interval column holds the exact
        bound for 0 positives (:func:`.reliability.zero_positive_upper`), not ``[0, 0]``.
    segments
        Per-segment rows of the primary estimator (value and lift), or None.
    weight_histograms
        Policy -> (counts, bin edges) of its importance weights ``pi/p`` (log-spaced bins).
    config
        The configuration used.
    metrics, policies
        Names evaluated.
    n_events, n_users
        Data size.
    resample_unit, n_units
        The resampling unit used (``"events"`` or ``"users"``) and how many there were
        (before random blocking).
    elapsed_seconds
        Wall time of the evaluation.
    learning_curves
        Optional curves to plot (name -> frame with a step column and value columns).
    """

    estimates: pl.DataFrame
    segments: pl.DataFrame | None
    weight_histograms: dict[str, tuple[np.ndarray, np.ndarray]]
    config: EvaluationConfig
    metrics: tuple[str, ...]
    policies: tuple[str, ...]
    n_events: int
    n_users: int | None
    elapsed_seconds: float
    resample_unit: str = "events"
    n_units: int | None = None
    learning_curves: dict[str, pl.DataFrame] = field(default_factory=dict)

    def lift(self) -> pl.DataFrame:
        """The lift table (``lift.parquet``): one row per policy x metric x estimator."""
        lifts = self.estimates.filter(pl.col("quantity") == "lift")
        values = self.estimates.filter(pl.col("quantity") == "value").select(
            "policy", "metric", "estimator", pl.col("point").alias("candidate_value")
        )
        logged = self.estimates.filter(pl.col("policy") == "logged").select(
            "metric", pl.col("point").alias("logged_value")
        )
        baseline = self.config.baseline
        if baseline is None:
            denominator = logged.with_columns(pl.col("logged_value").alias("baseline_value"))
            keys = ["metric"]
        else:
            denominator = values.filter(pl.col("policy") == baseline).select(
                "metric", "estimator", pl.col("candidate_value").alias("baseline_value")
            )
            keys = ["metric", "estimator"]
        return (
            lifts.join(values, on=["policy", "metric", "estimator"], how="left")
            .join(logged, on="metric", how="left")
            .join(denominator.select(*keys, "baseline_value"), on=keys, how="left")
            .with_columns(pl.lit(baseline or "logged").alias("baseline"))
            .select(
                "policy",
                "metric",
                "estimator",
                "lower",
                "point",
                "upper",
                "reliable",
                "reliability_reason",
                "logged_value",
                "baseline",
                "baseline_value",
                "candidate_value",
                "standard_error",
                "effective_positives",
                "ess",
                "max_weight",
                "baseline_ess",
                "baseline_max_weight",
                "dropped_replicates",
                "n",
            )
        )


def metric_rewards(
    feedback: Sequence[str] | pl.Series | np.ndarray, metrics: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """``{signal: 1[feedback == signal]}``; by default every signal present except ``none``.

    Signals are ordered as in :data:`~offline_rl.schema.DEFAULT_FEEDBACK_VOCABULARY`, then
    alphabetically.
    """
    series = (
        feedback
        if isinstance(feedback, pl.Series)
        else pl.Series("feedback", np.asarray(feedback, dtype=object), dtype=pl.String)
    )
    if metrics is None:
        present = [s for s in series.unique().to_list() if s is not None and s != "none"]
        order = {name: i for i, name in enumerate(DEFAULT_FEEDBACK_VOCABULARY)}
        metrics = sorted(present, key=lambda s: (order.get(s, len(order)), s))
    if not metrics:
        raise ValueError(
            "No metric to evaluate: the logs hold no feedback signal other than 'none'."
        )
    present = set(series.unique().to_list())
    for name in metrics:
        if name not in present:
            raise ValueError(
                f"Metric {name!r} never occurs in the feedback column; signals present: {sorted(s for s in present if s is not None)}."
            )
    return {
        name: (series == name).fill_null(False).to_numpy().astype(np.float64) for name in metrics
    }


def evaluate_arrays(
    *,
    propensity: np.ndarray,
    policies: Mapping[str, np.ndarray],
    rewards: Mapping[str, np.ndarray],
    users: np.ndarray | None = None,
    segments: np.ndarray | None = None,
    reward_models: Mapping[str, RewardModel] | None = None,
    config: EvaluationConfig = EvaluationConfig(),
) -> EvaluationResult:
    """:func:`evaluate_logs` on arrays (no DataFrame), for simulations and benchmarks.

    Parameters
    ----------
    propensity
        ``(n,)`` logging probabilities ``p_i`` of the logged actions, in (0, 1].
    policies
        Name -> ``(n,)`` candidate's probability ``pi(a_i | x_i)`` of the logged action.
    rewards
        Metric name -> ``(n,)`` reward.
    users
        ``(n,)`` user ids; needed for ``config.resample == "users"``.
    segments
        Optional ``(n,)`` segment label per event for per-segment bars.
    reward_models
        Metric name -> :class:`RewardModel` (DM and DR).
    config
        :class:`EvaluationConfig`.
    """
    started = time.perf_counter()
    propensity = _probabilities("propensity", propensity, None, low_open=True)
    n = propensity.shape[0]
    if n == 0:
        raise ValueError("No logged events to evaluate.")
    checked = {}
    for name, probs in policies.items():
        if name == "logged":
            raise ValueError(
                "The policy name 'logged' is reserved for the logging policy; rename the candidate."
            )
        checked[name] = _probabilities(f"policy {name!r}", probs, n, low_open=False)
    if not checked:
        raise ValueError("No candidate policy given.")
    reward_arrays = {}
    for name, values in rewards.items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,) or not np.isfinite(array).all():
            raise ValueError(
                f"Rewards of metric {name!r} must be {n} finite numbers; got shape {array.shape}."
            )
        reward_arrays[name] = array
    if config.resample == "users" and users is None:
        raise ValueError("resample='users' needs user ids (`users`).")
    if users is not None and np.asarray(users).shape != (n,):
        raise ValueError(f"Expected `users.shape == ({n},)`, but found {np.asarray(users).shape}.")
    n_users = int(np.unique(np.asarray(users)).shape[0]) if users is not None else None
    unit = resample_unit(config.resample, n, n_users)
    clusters = users if unit == "users" else None
    estimates = _estimate(propensity, checked, reward_arrays, clusters, reward_models, config)
    segment_frame = None
    if segments is not None:
        segment_frame = _segments(
            propensity, checked, reward_arrays, clusters, np.asarray(segments), reward_models, config
        )
    histograms = {}
    for name, probs in checked.items():
        weights = probs / propensity
        positive = weights[weights > 0]
        low = max(positive.min(), 1e-4) if positive.size else 1e-4
        high = max(weights.max(), low * 10)
        edges = np.concatenate(([0.0], np.geomspace(low, high, 41)))
        counts, edges = np.histogram(weights, bins=edges)
        histograms[name] = (counts, edges)
    return EvaluationResult(
        estimates=estimates,
        segments=segment_frame,
        weight_histograms=histograms,
        config=config,
        metrics=tuple(reward_arrays),
        policies=tuple(checked),
        n_events=n,
        n_users=n_users,
        elapsed_seconds=time.perf_counter() - started,
        resample_unit=unit,
        n_units=n_users if unit == "users" else n,
    )


def resample_unit(requested: str, n_events: int, n_users: int | None) -> str:
    """The unit ``requested`` resolves to: ``"auto"`` is users when user ids are given and
    some user has more than one event, else events."""
    if requested != "auto":
        return requested
    return "users" if n_users is not None and n_users < n_events else "events"


def evaluate_logs(
    logs: pl.DataFrame,
    policies: Mapping[str, np.ndarray],
    *,
    metrics: Sequence[str] | None = None,
    segments: str | np.ndarray | pl.Series | None = None,
    reward_models: Mapping[str, RewardModel] | None = None,
    config: EvaluationConfig = EvaluationConfig(),
) -> EvaluationResult:
    """Off-policy evaluation of candidate policies on canonical logs.

    Parameters
    ----------
    logs
        Canonical logs (:func:`offline_rl.data.loading.load_logs`); uses ``propensity``,
        ``feedback`` and ``user_id``.
    policies
        Policy name -> ``(n,)`` probability of the logged action under the candidate, in the
        logs' row order.
    metrics
        Feedback signals to evaluate (``r_i = 1[feedback_i == signal]``); default every
        signal present except ``none``.
    segments
        Per-segment bars: a column name of ``logs`` or an ``(n,)`` array of labels.
    reward_models
        Metric -> :class:`~offline_rl.evaluation.design.RewardModel` for DM and DR.
    config
        :class:`EvaluationConfig`.

    Returns
    -------
    EvaluationResult
    """
    for column in ("propensity", "feedback"):
        if column not in logs.columns:
            raise ValueError(
                f'unable to find column "{column}" in the logs; valid columns: {logs.columns}'
            )
    rewards = metric_rewards(logs["feedback"], metrics)
    users = logs["user_id"].to_numpy() if "user_id" in logs.columns else None
    segment_labels = None
    if isinstance(segments, str):
        if segments not in logs.columns:
            raise ValueError(
                f'unable to find segment column "{segments}"; valid columns: {logs.columns}'
            )
        segment_labels = logs[segments].cast(pl.String).fill_null("(null)").to_numpy()
    elif segments is not None:
        segment_labels = np.asarray(segments)
    return evaluate_arrays(
        propensity=logs["propensity"].to_numpy(),
        policies=policies,
        rewards=rewards,
        users=users,
        segments=segment_labels,
        reward_models=reward_models,
        config=config,
    )


def _probabilities(name: str, values, n: int | None, *, low_open: bool) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        raise ValueError(
            f"Expected {name} to be a vector of {n if n is not None else 'n'} probabilities, but found shape {array.shape}."
        )
    bad = ~np.isfinite(array) | (array <= 0 if low_open else array < 0) | (array > 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        rule = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {rule}; row {row} is {array[row].item()!r}.")
    if low_open:
        check_propensity_floor(name, array)
    return array


def _estimate(
    propensity, policies, rewards, clusters, reward_models, config: EvaluationConfig
) -> pl.DataFrame:
    design = build_design(
        propensity=propensity,
        policies=policies,
        rewards=rewards,
        estimators=config.estimators,
        cap=config.weight_cap,
        reward_models=reward_models,
        baseline=config.baseline,
    )
    units, unit_counts = design.resampling_units(
        clusters=clusters, max_units=config.max_units, seed=config.seed
    )
    delta = delta_intervals(units, design.functionals, confidence=config.confidence)
    nan = np.full((len(design.functionals), 2), np.nan)
    dropped = np.zeros(len(design.functionals), dtype=np.int64)
    if config.n_replicates:
        boot = bootstrap_functionals(
            units,
            design.functionals,
            n_replicates=config.n_replicates,
            method=config.method,
            confidence=config.confidence,
            seed=config.seed,
        )
        percentile, bca, standard_error = boot.percentile, boot.bca, boot.standard_error
        dropped = boot.dropped
    else:
        percentile, bca, standard_error = nan, nan, delta.standard_error
    intervals = {"percentile": percentile, "bca": bca, "delta": delta.interval}
    chosen = intervals[config.interval]
    diagnostics = design.diagnostics()
    expected = design.expected_positives()
    unit = "users" if clusters is not None else "events"
    value_index = {
        (k.policy, k.metric, k.estimator): i for i, k in enumerate(design.keys) if k.quantity == "value"
    }
    bounds = _zero_positive_bounds(design, unit_counts, diagnostics, value_index, config)
    rows = []
    for index, key in enumerate(design.keys):
        ess, largest = diagnostics[(key.policy, key.estimator)]
        point = float(delta.point[index])
        expected_positives = expected[(key.policy, key.metric, key.estimator)]
        base_ess = base_largest = None
        if key.quantity == "lift":
            denominator = _denominator(key, config.baseline)
            base_ess, base_largest = diagnostics[(denominator[0], denominator[2])]
            expected_positives = min(expected_positives, expected[denominator])
        numerator = (key.policy, key.metric, key.estimator)
        reliable, reason, effective = assess(
            undefined=None if np.isfinite(point) else _undefined_label(key, config.baseline),
            effective_in_units=float(
                min(unit_counts[column] for column, _ in design.functionals[index].terms)
            ),
            expected_positives=expected_positives,
            dropped=int(dropped[index]),
            n_replicates=config.n_replicates,
            unit=unit,
            no_positive=_no_positive_label(key) if numerator in bounds else None,
        )
        row_intervals = {name: values[index] for name, values in intervals.items()}
        if numerator in bounds and np.isfinite(point):
            upper = bounds[numerator]
            if key.quantity == "lift":
                low = chosen[value_index[denominator], 0]
                upper = upper / low - 1.0 if low > 0 else np.nan
                stated = np.array([-1.0, upper])
            else:
                stated = np.array([0.0, upper])
            row_intervals = dict.fromkeys(intervals, stated)
        lower, upper = row_intervals[config.interval]
        rows.append(
            {
                "policy": key.policy,
                "metric": key.metric,
                "estimator": key.estimator,
                "quantity": key.quantity,
                "point": point,
                "lower": float(lower),
                "upper": float(upper),
                "reliable": reliable,
                "reliability_reason": reason,
                "effective_positives": effective,
                "standard_error": float(standard_error[index]),
                "percentile_lower": float(row_intervals["percentile"][0]),
                "percentile_upper": float(row_intervals["percentile"][1]),
                "bca_lower": float(row_intervals["bca"][0]),
                "bca_upper": float(row_intervals["bca"][1]),
                "delta_lower": float(row_intervals["delta"][0]),
                "delta_upper": float(row_intervals["delta"][1]),
                "delta_standard_error": float(delta.standard_error[index]),
                "dropped_replicates": int(dropped[index]),
                "ess": float(ess),
                "max_weight": float(largest),
                "baseline_ess": base_ess,
                "baseline_max_weight": base_largest,
                "n": design.n,
            }
        )
    schema = {
        "n": pl.Int64,
        "dropped_replicates": pl.Int64,
        "reliability_reason": pl.String,
        "baseline_ess": pl.Float64,
        "baseline_max_weight": pl.Float64,
    }
    return pl.DataFrame(rows, schema_overrides=schema).with_columns(
        pl.col(pl.Float64).fill_nan(None)
    )


#: Estimators whose value is a (weighted) mean of the rewards, so that 0 positives bounds it.
_RATE_ESTIMATORS = frozenset({"on_policy", "ips", "capped_ips", "snips", "ncis"})


def _denominator(key, baseline: str | None) -> tuple[str, str, str]:
    if baseline is None:
        return ("logged", key.metric, "on_policy")
    return (baseline, key.metric, key.estimator)


def _undefined_label(key, baseline: str | None) -> str:
    if key.quantity == "value":
        return f"policy {key.policy!r} gives probability 0 to every logged action"
    if baseline is None:
        return f"no positive of metric {key.metric!r} in the logs, so the lift's denominator is 0"
    return f"the baseline {baseline!r}'s {key.estimator} value of metric {key.metric!r} is 0"


def _no_positive_label(key) -> str:
    if key.policy == "logged":
        return f"the logged events for metric {key.metric!r}"
    return f"the events policy {key.policy!r} weights, for metric {key.metric!r}"


def _zero_positive_bounds(design, unit_counts, diagnostics, value_index, config) -> dict:
    """``(policy, metric, estimator) -> upper bound`` for every value with no positive.

    A self-normalised rate (on-policy mean, SNIPS, NCIS) with 0 positives among ``n_eff``
    effective trials gets ``[0, 1 - (alpha/2)^(1/n_eff)]`` with ``n_eff`` the smaller of the
    weights' ESS and the effective number of resampling units; IPS and capped IPS, which
    are the mean weight times that rate, get the bound times the mean weight. Only for
    rewards in [0, 1] (else the bound is NaN: nothing honest can be said).
    """
    out = {}
    for (policy, metric, estimator), index in value_index.items():
        if estimator not in _RATE_ESTIMATORS:
            continue
        numerator = design.functionals[index].terms[0][0]
        if unit_counts[numerator] > 0:
            continue
        rewards = design.rewards[metric]
        if rewards.size and (rewards.min() < 0.0 or rewards.max() > 1.0):
            out[(policy, metric, estimator)] = float("nan")
            continue
        ess, _ = diagnostics[(policy, estimator)]
        upper = zero_positive_upper(min(ess, float(unit_counts[0])), config.confidence)
        if estimator in ("ips", "capped_ips"):
            weights = design.policies[policy] / design.propensity
            if estimator == "capped_ips":
                weights = np.minimum(weights, design.cap)
            upper *= float(weights.mean())
        out[(policy, metric, estimator)] = upper
    return out


def _segments(
    propensity, policies, rewards, users, labels, reward_models, config: EvaluationConfig
) -> pl.DataFrame:
    if labels.shape != propensity.shape:
        raise ValueError(
            f"Expected one segment label per event ({propensity.shape[0]}), but found shape {labels.shape}."
        )
    uniques, index = np.unique(labels.astype(str), return_inverse=True)
    if uniques.shape[0] > MAX_SEGMENTS:
        raise ValueError(
            f"The segment column has {uniques.shape[0]} distinct values; at most {MAX_SEGMENTS} are "
            "plotted. Map it to coarser groups first."
        )
    estimators = tuple(e for e in config.estimators if e == config.primary_estimator)
    segment_config = replace(config, estimators=estimators)
    frames = []
    for position, label in enumerate(uniques):
        mask = index.ravel() == position
        subset_models = None
        if reward_models:
            subset_models = {
                metric: RewardModel(
                    logged=np.asarray(model.logged)[mask],
                    under_policy={k: np.asarray(v)[mask] for k, v in model.under_policy.items()},
                )
                for metric, model in reward_models.items()
            }
        frame = _estimate(
            propensity[mask],
            {k: v[mask] for k, v in policies.items()},
            {k: v[mask] for k, v in rewards.items()},
            users[mask] if users is not None else None,
            subset_models,
            segment_config,
        )
        frames.append(frame.with_columns(pl.lit(str(label)).alias("segment")))
    columns = [
        "segment",
        "policy",
        "metric",
        "estimator",
        "quantity",
        "point",
        "lower",
        "upper",
        "reliable",
        "reliability_reason",
        "effective_positives",
        "ess",
        "max_weight",
        "n",
    ]
    return pl.concat(frames).select(columns)

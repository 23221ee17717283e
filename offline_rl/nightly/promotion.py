"""The promotion gate: should tonight's policy replace the one being served?

Every run ends with a decision, ``promoted`` or ``held_back``, recorded in its manifest with
the sentences that decided it and the rule's settings. A promoted run becomes
``runs/current`` (:mod:`offline_rl.nightly.current`); a held-back run leaves it where it was.
A held-back run is a decision, not a failure: the job still exits 0 (``offline-rl nightly
--held-back-exit-code`` gives schedulers a distinct code).

The rule (:func:`decide`), every part evaluated on the run's evaluation events, which no model
of the run trained on (:mod:`offline_rl.nightly.split`):

1. **The IK model found signal on held-out data.** Its importance-weighted negative
   log-likelihood of the logged action on the evaluation events must be clearly below the
   no-signal level (the weighted mean of log K, what P(a | x, y) = 1/K scores), by
   :data:`~offline_rl.igl.ik_model.ESCAPE_MARGIN`. Otherwise the decoded rewards are noise
   and so is the policy trained on them. The learner's own held-out check, when it made one,
   must not say otherwise; when neither check could be made the run is held back as
   "not checked".
2. **The primary metric does not get worse**: the lower end of its lift interval is at least
   ``margin`` (0 by default: the interval must exclude any loss).
3. **No negative metric rises beyond the limit**: for every declared negative signal (e.g.
   dislike) the upper end of its lift interval is at most ``negative_limit``.
4. **Only reliable estimates decide**: an estimate of 2 or 3 that is flagged unreliable
   (:mod:`offline_rl.evaluation.reliability`), or that cannot be made at all (the metric never
   occurs in the evaluation events), holds the run back, and the reason says which.

The lifts are the evaluation's primary estimator (SNIPS by default) with its intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offline_rl.config import Config, Real, Rule, Strings, Text

PROMOTED = "promoted"
HELD_BACK = "held_back"


@dataclass(frozen=True, kw_only=True)
class PromotionRule(Config):
    """When a run's policy may replace the serving one (see the module docstring)."""

    primary_metric: str = "click"
    """The feedback signal whose lift decides: its interval's lower end must reach ``margin``."""

    negative_metrics: tuple[str, ...] = ("dislike",)
    """Signals nobody wants more of: each lift's upper end must stay at or below
    ``negative_limit``. Empty when the logs have none."""

    margin: float = 0.0
    """Smallest acceptable lower end of the primary metric's relative lift (0: the interval
    must exclude a loss; 0.02: a gain of 2% must be established)."""

    negative_limit: float = 0.1
    """Largest acceptable upper end of a negative metric's relative lift (0.1: a rise of more
    than 10% must be ruled out)."""

    CONSTRAINTS = {
        "primary_metric": Text(),
        "negative_metrics": Strings(),
        "margin": Real(-1.0),
        "negative_limit": Real(-1.0),
    }
    RULES = (
        Rule("negative_metrics", "a tuple without the primary metric",
             lambda c: c.primary_metric not in c.negative_metrics),
    )


@dataclass(frozen=True, kw_only=True)
class SignalCheck:
    """One held-out check of the IK model: weighted NLL against the no-signal level."""

    where: str
    """The rows it was measured on, in words (e.g. "the 8,640 evaluation events")."""

    held_out_nll: float | None
    no_signal_nll: float | None
    found_signal: bool | None
    """None: the check was not made."""

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "held_out_nll": self.held_out_nll,
                "no_signal_nll": self.no_signal_nll, "found_signal": self.found_signal}


@dataclass(frozen=True, kw_only=True)
class Check:
    """One part of the rule: whether it passed (None: not applicable) and the sentence why."""

    name: str
    passed: bool | None
    sentence: str


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """The decision of one run and everything that went into it."""

    decision: str
    """``promoted`` or ``held_back``."""

    reasons: tuple[str, ...]
    """The sentences that decided: every failed check when held back, every check when promoted."""

    checks: tuple[Check, ...]
    rule: PromotionRule
    estimator: str
    policy: str

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``promotion``."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "rule": {**self.rule.to_dict(), "estimator": self.estimator, "policy": self.policy},
            "checks": [{"name": c.name, "passed": c.passed, "sentence": c.sentence} for c in self.checks],
        }


def decide(
    rule: PromotionRule,
    *,
    lift: Mapping[str, Mapping[str, Any]],
    signal_checks: Sequence[SignalCheck],
    evaluation_events: int,
    estimator: str,
    policy: str,
) -> Promotion:
    """Apply ``rule`` to one candidate policy's evaluation (see the module docstring).

    Parameters
    ----------
    rule
        The gate's settings.
    lift
        Metric -> that metric's lift row of ``estimator`` for ``policy``
        (:meth:`~offline_rl.evaluation.evaluate.EvaluationResult.lift`: ``lower``, ``point``,
        ``upper``, ``reliable``, ``reliability_reason``); metrics that never occur in the
        evaluation events are absent.
    signal_checks
        The IK model's held-out checks; the first is the one on the evaluation events.
    evaluation_events
        How many events the lifts were estimated on (for the sentences).
    estimator, policy
        What ``lift`` holds, for the record.
    """
    checks = [_signal(signal_checks)]
    for metric_check in (_primary(rule, lift, evaluation_events),
                         *(_negative(rule, metric, lift, evaluation_events) for metric in rule.negative_metrics)):
        checks.append(metric_check)
    failed = [check for check in checks if check.passed is False]
    decision = HELD_BACK if failed else PROMOTED
    reasons = tuple(check.sentence for check in (failed or [c for c in checks if c.passed]))
    return Promotion(decision=decision, reasons=reasons, checks=tuple(checks), rule=rule,
                     estimator=estimator, policy=policy)


def _signal(signal_checks: Sequence[SignalCheck]) -> Check:
    made = [check for check in signal_checks if check.found_signal is not None]
    if not made:
        return Check(name="ik_signal", passed=False, sentence=(
            "the IK model's signal was not checked on held-out data (no held-out rows), so nothing "
            "shows that its decoded rewards are more than noise"))
    failing = [check for check in made if check.found_signal is False]
    if failing:
        check = failing[0]
        return Check(name="ik_signal", passed=False, sentence=(
            f"the IK model found no signal on {check.where}: weighted NLL {check.held_out_nll:.3f} is "
            f"not clearly below the no-signal level {check.no_signal_nll:.3f}, so its decoded rewards, "
            "and the policy trained on them, are noise"))
    parts = "; ".join(f"{c.held_out_nll:.3f} < {c.no_signal_nll:.3f} on {c.where}" for c in made)
    return Check(name="ik_signal", passed=True,
                 sentence=f"the IK model found signal on held-out data (weighted NLL against no-signal: {parts})")


def _primary(rule: PromotionRule, lift: Mapping[str, Mapping[str, Any]], events: int) -> Check:
    metric = rule.primary_metric
    name = f"primary:{metric}"
    row = lift.get(metric)
    if row is None:
        return Check(name=name, passed=False, sentence=(
            f"the primary metric {metric!r} never occurs in the {events:,} evaluation events, so its "
            "lift cannot be estimated"))
    interval = _interval(row)
    if not row["reliable"]:
        return Check(name=name, passed=False, sentence=(
            f"the {metric} lift {interval} is unreliable ({row['reliability_reason']}), so it "
            "cannot decide"))
    lower = _value(row["lower"])
    if not lower >= rule.margin:
        return Check(name=name, passed=False, sentence=(
            f"the {metric} lift {interval} does not clear the margin: its lower end "
            f"{_pct(lower)} is below {_pct(rule.margin)}"))
    return Check(name=name, passed=True, sentence=(
        f"the {metric} lift {interval} clears the margin: its lower end {_pct(lower)} "
        f"is at least {_pct(rule.margin)}"))


def _negative(rule: PromotionRule, metric: str, lift: Mapping[str, Mapping[str, Any]], events: int) -> Check:
    name = f"negative:{metric}"
    row = lift.get(metric)
    if row is None:
        return Check(name=name, passed=False, sentence=(
            f"the negative metric {metric!r} never occurs in the {events:,} evaluation events, so a "
            "rise cannot be ruled out (declare negative_metrics = [] if these logs have no such "
            "signal)"))
    interval = _interval(row)
    if not row["reliable"]:
        return Check(name=name, passed=False, sentence=(
            f"the {metric} lift {interval} is unreliable ({row['reliability_reason']}), so a rise "
            "cannot be ruled out"))
    upper = _value(row["upper"])
    if not upper <= rule.negative_limit:
        return Check(name=name, passed=False, sentence=(
            f"the {metric} lift {interval} may exceed the limit: its upper end {_pct(upper)} is above "
            f"{_pct(rule.negative_limit)}"))
    return Check(name=name, passed=True, sentence=(
        f"the {metric} lift {interval} stays within the limit: its upper end {_pct(upper)} is at "
        f"most {_pct(rule.negative_limit)}"))


def _value(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f}%"


def _interval(row: Mapping[str, Any]) -> str:
    lower, point, upper = (_value(row[key]) for key in ("lower", "point", "upper"))
    return f"{_pct(point)} [{_pct(lower)}, {_pct(upper)}]"

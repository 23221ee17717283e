"""The promotion gate: each part of the rule, its boundaries, and the sentences it writes."""

from __future__ import annotations

import pytest

from offline_rl.config import ConfigError
from offline_rl.nightly.config import NightlyConfig, step_configs
from offline_rl.nightly.pipeline import signal_checks
from offline_rl.nightly.promotion import HELD_BACK, PROMOTED, PromotionRule, SignalCheck, decide

FOUND = SignalCheck(where="the 500 evaluation events", held_out_nll=1.8, no_signal_nll=2.3, found_signal=True)
NOT_MADE = SignalCheck(where="the learner's own held-out training rows", held_out_nll=None, no_signal_nll=None,
                       found_signal=None)
NO_SIGNAL = SignalCheck(where="the 500 evaluation events", held_out_nll=2.299, no_signal_nll=2.303,
                        found_signal=False)


def _row(lower, point, upper, reliable=True, reason=None):
    return {"lower": lower, "point": point, "upper": upper, "reliable": reliable, "reliability_reason": reason}


GOOD = {"click": _row(0.01, 0.05, 0.09), "dislike": _row(-0.3, -0.1, 0.05)}


def _decide(lift=None, checks=(FOUND, NOT_MADE), **rule):
    return decide(PromotionRule(**rule), lift=GOOD if lift is None else lift, signal_checks=checks,
                  evaluation_events=500, estimator="snips", policy="igl_p")


def test_a_run_that_passes_every_check_is_promoted_with_every_reason():
    promotion = _decide()
    assert promotion.decision == PROMOTED and promotion.promoted
    assert promotion.reasons == (
        "the IK model found signal on held-out data (weighted NLL against no-signal: 1.800 < 2.300 on the "
        "500 evaluation events)",
        "the click lift +5.0% [+1.0%, +9.0%] clears the margin: its lower end +1.0% is at least +0.0%",
        "the dislike lift -10.0% [-30.0%, +5.0%] stays within the limit: its upper end +5.0% is at most +10.0%",
    )
    recorded = promotion.to_dict()
    assert recorded["decision"] == "promoted"
    assert recorded["rule"] == {"schema_version": PromotionRule.SCHEMA_VERSION, "primary_metric": "click",
                                "negative_metrics": ["dislike"], "margin": 0.0, "negative_limit": 0.1,
                                "estimator": "snips", "policy": "igl_p"}
    assert [check["passed"] for check in recorded["checks"]] == [True, True, True]


@pytest.mark.parametrize(
    ("lift", "checks", "rule", "reason"),
    [
        (None, (NO_SIGNAL, NOT_MADE), {},
         "the IK model found no signal on the 500 evaluation events: weighted NLL 2.299 is not clearly below the "
         "no-signal level 2.303"),
        (None, (FOUND, SignalCheck(where="the learner's own held-out training rows", held_out_nll=3.0,
                                   no_signal_nll=2.3, found_signal=False)), {},
         "the IK model found no signal on the learner's own held-out training rows"),
        (None, (SignalCheck(where="the 500 evaluation events", held_out_nll=None, no_signal_nll=None,
                            found_signal=None), NOT_MADE), {},
         "the IK model's signal was not checked on held-out data"),
        ({**GOOD, "click": _row(-0.001, 0.05, 0.1)}, (FOUND,), {},
         "the click lift +5.0% [-0.1%, +10.0%] does not clear the margin: its lower end -0.1% is below +0.0%"),
        (None, (FOUND,), {"margin": 0.02},
         "the click lift +5.0% [+1.0%, +9.0%] does not clear the margin: its lower end +1.0% is below +2.0%"),
        ({**GOOD, "click": _row(0.2, 0.5, 0.9, reliable=False, reason="2.1 effective positives (< 5)")}, (FOUND,), {},
         "the click lift +50.0% [+20.0%, +90.0%] is unreliable (2.1 effective positives (< 5)), so it cannot decide"),
        ({"dislike": GOOD["dislike"]}, (FOUND,), {},
         "the primary metric 'click' never occurs in the 500 evaluation events"),
        ({**GOOD, "dislike": _row(-0.3, 0.0, 0.12)}, (FOUND,), {},
         "the dislike lift +0.0% [-30.0%, +12.0%] may exceed the limit: its upper end +12.0% is above +10.0%"),
        (None, (FOUND,), {"negative_limit": 0.0},
         "the dislike lift -10.0% [-30.0%, +5.0%] may exceed the limit: its upper end +5.0% is above +0.0%"),
        ({**GOOD, "dislike": _row(-0.9, -0.5, -0.1, reliable=False, reason="no positive among x")}, (FOUND,), {},
         "the dislike lift -50.0% [-90.0%, -10.0%] is unreliable (no positive among x), so a rise cannot be ruled out"),
        ({"click": GOOD["click"]}, (FOUND,), {},
         "the negative metric 'dislike' never occurs in the 500 evaluation events, so a rise cannot be ruled out"),
        ({**GOOD, "like": _row(0.1, 0.2, None)}, (FOUND,), {"negative_metrics": ("dislike", "like")},
         "its upper end n/a is above +10.0%"),
    ],
    ids=["no-signal", "learner-says-no-signal", "signal-not-checked", "lower-below-0", "lower-below-margin",
         "primary-unreliable", "primary-absent", "negative-above-limit", "negative-above-zero-limit",
         "negative-unreliable", "negative-absent", "negative-undefined-upper"],
)
def test_each_failed_check_holds_the_run_back_and_says_why(lift, checks, rule, reason):
    promotion = _decide(lift, checks, **rule)
    assert promotion.decision == HELD_BACK
    assert len(promotion.reasons) == 1
    assert reason in promotion.reasons[0]


def test_boundaries_pass_and_every_failure_is_listed():
    at_bounds = {"click": _row(0.0, 0.1, 0.2), "dislike": _row(-0.2, 0.0, 0.1)}
    assert _decide(at_bounds).decision == PROMOTED
    everything_wrong = {"click": _row(-0.5, -0.2, 0.1), "dislike": _row(0.0, 0.5, 1.0)}
    promotion = _decide(everything_wrong, (NO_SIGNAL,))
    assert [check.name for check in promotion.checks if check.passed is False] == [
        "ik_signal", "primary:click", "negative:dislike"]
    assert len(promotion.reasons) == 3
    assert _decide(at_bounds, negative_metrics=()).decision == PROMOTED


def test_signal_checks_read_the_fit_metrics():
    fitted = {"evaluation_ik_nll": 2.0, "evaluation_no_signal_nll": 2.3, "evaluation_ik_found_signal": True,
              "ik_held_out_nll": 2.1, "ik_no_signal_nll": 2.3, "ik_found_signal": False}
    evaluation, learner = signal_checks(fitted, 1234)
    assert evaluation.where == "the 1,234 evaluation events" and evaluation.found_signal is True
    assert (learner.held_out_nll, learner.found_signal) == (2.1, False)
    assert _decide(checks=(evaluation, learner)).decision == HELD_BACK
    warm = {key: value for key, value in fitted.items() if not key.startswith("ik_")}
    assert _decide(checks=tuple(signal_checks(warm, 10))).decision == PROMOTED


def test_rule_settings_come_from_the_nightly_config():
    config = NightlyConfig(logs="x", primary_metric="like", negative_metrics=(), promotion_margin=0.05,
                           negative_lift_limit=0.0)
    rule = step_configs(config).promotion
    assert (rule.primary_metric, rule.negative_metrics, rule.margin, rule.negative_limit) == ("like", (), 0.05, 0.0)
    with pytest.raises(ConfigError, match="'negative_metrics' parameter of NightlyConfig must be a tuple without "
                                          "the primary metric"):
        NightlyConfig(logs="x", primary_metric="dislike")
    with pytest.raises(ConfigError, match="'margin' parameter of PromotionRule must be a float >= -1"):
        PromotionRule(margin=-2)

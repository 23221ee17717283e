"""The reliability rule, zero-positive intervals, dropped replicates, the resampling unit and
the validation of DM/DR inputs and near-zero propensities (issue #12)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offline_rl.evaluation import EvaluationConfig, RewardModel, evaluate_arrays
from offline_rl.evaluation.design import build_design
from offline_rl.evaluation.estimators import MIN_PROPENSITY, expected_under_policy, ips, snips
from offline_rl.evaluation.reliability import (
    MIN_EFFECTIVE_POSITIVES,
    assess,
    effective_counts,
    functional_effective_counts,
    zero_positive_upper,
)
from offline_rl.evaluation.report import format_table, report_dict
from offline_rl.evaluation.statistics import Functional


def _row(result, **where):
    return result.estimates.filter(**where).row(0, named=True)


# ------------------------------------------------------------------ effective counts


def test_effective_counts_are_kish_over_units():
    units = np.array([[1.0, 2.0, 0.0, -1.0], [1.0, 2.0, 0.0, 1.0], [1.0, 4.0, 0.0, 2.0]])
    counts = effective_counts(units)
    assert counts[0] == pytest.approx(3.0)
    assert counts[1] == pytest.approx(8.0**2 / 24.0)
    assert counts[2] == 0.0  # a column without a single non-zero unit
    assert counts[3] == pytest.approx(4.0**2 / 6.0)  # |S| in the numerator, not S
    functionals = [Functional("a/b", ((1, 1), (3, -1))), Functional("c", ((2, 1),))]
    np.testing.assert_allclose(
        functional_effective_counts(units, functionals), [min(counts[1], counts[3]), 0.0]
    )


def test_zero_positive_upper_is_the_exact_binomial_bound():
    # P(0 positives | rate = upper) = alpha/2 exactly
    upper = zero_positive_upper(300.0, 0.95)
    assert (1 - upper) ** 300 == pytest.approx(0.025, rel=1e-12)
    assert upper == pytest.approx(3.689 / 300, rel=0.01)  # ~ the rule of three, two-sided
    assert np.isnan(zero_positive_upper(0.0, 0.95))


@pytest.mark.parametrize(
    ("kwargs", "reliable", "reason"),
    [
        ({}, True, None),
        ({"effective_in_units": 4.99}, False, r"4\.99 effective positives \(< 5\): the positives sit in few users"),
        ({"expected_positives": 3.0}, False, r"3 effective positives \(< 5\): large weights sit on events without"),
        ({"dropped": 3}, False, r"3 of 1000 bootstrap replicates were undefined"),
        ({"no_positive": "X"}, False, r"no positive among X: interval is the exact bound"),
        ({"undefined": "why"}, False, r"undefined: why"),
    ],
)
def test_assess(kwargs, reliable, reason):
    arguments = {
        "undefined": None,
        "effective_in_units": float(MIN_EFFECTIVE_POSITIVES),
        "expected_positives": 50.0,
        "dropped": 0,
        "n_replicates": 1000,
        "unit": "users",
        "no_positive": None,
    }
    arguments.update(kwargs)
    ok, why, effective = assess(**arguments)
    assert ok is reliable
    if reason is None:
        assert why is None and effective == MIN_EFFECTIVE_POSITIVES
    else:
        import re

        assert re.search(reason, why), why


def test_dm_ignores_the_expected_positives():
    ok, _, effective = assess(
        undefined=None,
        effective_in_units=100.0,
        expected_positives=float("nan"),
        dropped=0,
        n_replicates=10,
        unit="events",
        no_positive=None,
    )
    assert ok and effective == 100.0


# ------------------------------------------------------------------ in evaluate_arrays


def _heavy_rare(seed=0, n=2000):
    """Weights up to 100 and ~15 positives: the setting where intervals cover ~0.2-0.7."""
    from tests.evaluation.coverage_study import worlds

    data = worlds()["heavy_rare"].simulate(1, seed)
    return {k: v[0] for k, v in data.items()}


def test_heavy_weights_with_rare_rewards_are_flagged():
    data = _heavy_rare()
    result = evaluate_arrays(
        propensity=data["propensity"],
        policies={"greedy": data["target"]},
        rewards={"click": data["reward"]},
        config=EvaluationConfig(n_replicates=200, estimators=("ips", "snips")),
    )
    lift = result.lift()
    assert not any(lift["reliable"])
    assert all("effective positives" in r or "no positive" in r for r in lift["reliability_reason"])
    assert lift["max_weight"].max() == pytest.approx(100.0)
    table = format_table(result)
    assert " NO " in table and "NO: greedy/click:" in table


def test_easy_setting_is_reliable_and_both_policies_diagnostics_are_reported():
    rng = np.random.default_rng(4)
    n = 3000
    p = rng.choice([0.25, 0.5], n)
    policies = {"a": rng.uniform(0, 1, n), "b": rng.uniform(0.1, 0.5, n)}
    rewards = {"click": (rng.random(n) < 0.3).astype(float)}
    result = evaluate_arrays(
        propensity=p,
        policies=policies,
        rewards=rewards,
        config=EvaluationConfig(n_replicates=100, estimators=("ips", "snips"), baseline="b"),
    )
    row = result.lift().filter(estimator="snips").row(0, named=True)
    assert row["reliable"] and row["reliability_reason"] is None
    assert row["effective_positives"] >= MIN_EFFECTIVE_POSITIVES
    # the lift row carries both policies' weight diagnostics
    assert row["ess"] == pytest.approx(snips(rewards["click"], policies["a"], p).ess)
    assert row["max_weight"] == pytest.approx(np.max(policies["a"] / p))
    assert row["baseline_ess"] == pytest.approx(snips(rewards["click"], policies["b"], p).ess)
    assert row["baseline_max_weight"] == pytest.approx(np.max(policies["b"] / p))
    # over the logged policy: the logs' ESS is n and their weight 1
    over_logs = evaluate_arrays(
        propensity=p, policies=policies, rewards=rewards,
        config=EvaluationConfig(n_replicates=20, estimators=("snips",)),
    ).lift().row(0, named=True)
    assert (over_logs["baseline_ess"], over_logs["baseline_max_weight"]) == (float(n), 1.0)


def test_a_metric_without_positives_gets_se_zero_and_the_exact_bound():
    rng = np.random.default_rng(5)
    n = 1000
    p = np.full(n, 0.5)
    pi = rng.uniform(0, 1, n)
    result = evaluate_arrays(
        propensity=p,
        policies={"a": pi},
        rewards={"rare": np.zeros(n), "click": (rng.random(n) < 0.3).astype(float)},
        config=EvaluationConfig(n_replicates=100, estimators=("ips", "snips")),
    )
    logged = _row(result, policy="logged", metric="rare")
    assert logged["point"] == 0.0 and logged["standard_error"] == 0.0
    assert logged["delta_standard_error"] == 0.0  # was NaN
    assert (logged["lower"], logged["upper"]) == (0.0, pytest.approx(1 - 0.025 ** (1 / n)))
    assert not logged["reliable"] and "no positive among the logged events" in logged["reliability_reason"]
    value = _row(result, policy="a", metric="rare", estimator="snips", quantity="value")
    ess = snips(np.zeros(n), pi, p).ess
    for side in ("", "percentile_", "bca_", "delta_"):
        assert value[f"{side}lower"] == 0.0
        assert value[f"{side}upper"] == pytest.approx(1 - 0.025 ** (1 / ess))
    ips_value = _row(result, policy="a", metric="rare", estimator="ips", quantity="value")
    assert ips_value["upper"] == pytest.approx(np.mean(pi / p) * (1 - 0.025 ** (1 / ess)))
    lift = _row(result, policy="a", metric="rare", estimator="snips", quantity="lift")
    assert lift["point"] is None and lift["lower"] is None and not lift["reliable"]
    assert "no positive of metric 'rare' in the logs" in lift["reliability_reason"]


def test_a_candidate_without_positives_gets_a_stated_lift_interval():
    n = 2000
    rng = np.random.default_rng(6)
    clicks = (rng.random(n) < 0.05).astype(float)
    pi = np.where(clicks > 0, 0.0, 0.5)  # the candidate never shows what was clicked
    result = evaluate_arrays(
        propensity=np.full(n, 0.5),
        policies={"a": pi},
        rewards={"click": clicks},
        config=EvaluationConfig(n_replicates=200, estimators=("snips",)),
    )
    lift = _row(result, quantity="lift")
    logged = _row(result, policy="logged")
    upper = 1 - 0.025 ** (1 / snips(clicks, pi, np.full(n, 0.5)).ess)
    assert lift["point"] == pytest.approx(-1.0)
    assert lift["lower"] == -1.0
    assert lift["upper"] == pytest.approx(upper / logged["lower"] - 1)
    assert not lift["reliable"] and "no positive among the events policy 'a' weights" in lift["reliability_reason"]


def test_dropped_replicates_are_counted_and_flagged():
    n = 400
    clicks = np.zeros(n)
    clicks[[3, 200]] = 1.0  # two positives: P(a replicate draws neither) = e^-2
    result = evaluate_arrays(
        propensity=np.full(n, 0.5),
        policies={"a": np.full(n, 0.5)},
        rewards={"click": clicks},
        config=EvaluationConfig(n_replicates=1000, estimators=("ips",), primary_estimator="ips", seed=3),
    )
    lift = _row(result, quantity="lift")
    assert 0.09 < lift["dropped_replicates"] / 1000 < 0.18
    assert lift["dropped_replicates"] == result.lift()["dropped_replicates"][0]
    assert not lift["reliable"]
    assert _row(result, policy="logged")["dropped_replicates"] == 0


# ------------------------------------------------------------------ resampling unit


def test_auto_resamples_users_when_they_repeat_and_says_so():
    rng = np.random.default_rng(7)
    n = 1200
    users = np.repeat(np.arange(60), 20)
    rates = rng.uniform(0.0, 0.6, 60)[users]  # personalised: correlated within a user
    arrays = {
        "propensity": np.full(n, 0.5),
        "policies": {"a": np.full(n, 0.5)},
        "rewards": {"click": (rng.random(n) < rates).astype(float)},
    }
    config = EvaluationConfig(n_replicates=300, estimators=("ips",), primary_estimator="ips")
    auto = evaluate_arrays(users=users, config=config, **arrays)
    assert (auto.resample_unit, auto.n_units) == ("users", 60)
    events = evaluate_arrays(users=users, config=EvaluationConfig(n_replicates=300, estimators=("ips",), primary_estimator="ips", resample="events"), **arrays)
    assert (events.resample_unit, events.n_units) == ("events", n)
    wide = _row(auto, policy="logged")["standard_error"]
    narrow = _row(events, policy="logged")["standard_error"]
    assert wide > 1.5 * narrow
    report = report_dict(auto)
    assert report["resampling"] == {"requested": "auto", "unit": "users", "n_units": 60, "blocks": None}
    assert "60 users resampled" in format_table(auto)
    # without user ids, or when no user repeats, auto is the event bootstrap
    assert evaluate_arrays(config=config, **arrays).resample_unit == "events"
    assert evaluate_arrays(users=np.arange(n), config=config, **arrays).resample_unit == "events"


# ------------------------------------------------------------------ bad inputs


def _arrays(n=4):
    return {
        "propensity": np.full(n, 0.5),
        "policies": {"a": np.full(n, 0.5)},
        "rewards": {"click": np.array([1.0, 0.0, 1.0, 0.0])},
    }


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"logged": np.array([0.4]), "under_policy": {"a": np.full(4, 0.4)}},
            r"metric 'click': `logged` must hold one prediction per event, shape \(4,\); found shape \(1,\)",
        ),
        (
            {"logged": np.full(4, 0.4), "under_policy": {"a": np.full(8, 0.4)}},
            r"`under_policy\['a'\]` must hold one prediction per event, shape \(4,\); found shape \(8,\)",
        ),
        (
            {"logged": np.array([0.4, np.nan, 0.4, 0.4]), "under_policy": {"a": np.full(4, 0.4)}},
            r"`logged` must be finite; row 1 is nan",
        ),
        (
            {"logged": np.full(4, 0.4), "under_policy": {"a": np.full(4, 0.4), "zz": np.full(4, 0.1)}},
            r"predictions for 'zz', which is not a candidate policy",
        ),
        (
            {"logged": np.full(4, 0.4), "under_policy": {}},
            r"has no `under_policy` predictions for policy 'a'",
        ),
    ],
)
def test_reward_models_are_validated(model, message):
    with pytest.raises(ValueError, match=message):
        evaluate_arrays(
            reward_models={"click": RewardModel(**model)},
            config=EvaluationConfig(n_replicates=10),
            **_arrays(),
        )


def test_a_reward_model_for_a_metric_not_evaluated_is_refused():
    with pytest.raises(ValueError, match=r"reward model is for metric 'like', which is not evaluated"):
        build_design(
            propensity=np.full(4, 0.5),
            policies={"a": np.full(4, 0.5)},
            rewards={"click": np.zeros(4)},
            reward_models={"like": RewardModel(logged=np.zeros(4), under_policy={"a": np.zeros(4)})},
        )


@pytest.mark.parametrize(
    ("probs", "predictions", "message"),
    [
        ([[0.5, 0.6]], [[1.0, 0.0]], r"rows must sum to 1 .* row 0 sums to 1.1"),
        ([[1.5, -0.5]], [[1.0, 0.0]], r"`action_probs` must lie in \[0, 1\]; row 0, column 0 is 1.5"),
        ([[0.5, 0.5]], [[1.0, np.nan]], r"`reward_predictions` must be finite; row 0, column 1 is nan"),
        ([[0.5, 0.5]], [[1.0, 0.0, 0.0]], r"2-D of the same shape"),
    ],
)
def test_expected_under_policy_checks_the_distribution(probs, predictions, message):
    with pytest.raises(ValueError, match=message):
        expected_under_policy(probs, predictions)


def test_near_zero_propensities_are_refused_naming_the_row():
    arrays = _arrays()
    arrays["propensity"] = np.array([0.5, 0.5, 1e-320, 0.5])
    with pytest.raises(ValueError, match=r"propensity row 2 is 1e-320, below the smallest accepted propensity 1e-12"):
        evaluate_arrays(config=EvaluationConfig(n_replicates=10), **arrays)
    with pytest.raises(ValueError, match=r"propensity row 2 is 1e-320"):
        ips([1.0, 0.0, 1.0, 0.0], np.full(4, 0.5), arrays["propensity"])
    # the floor itself is accepted
    assert ips([1.0], [1e-12], [MIN_PROPENSITY]).value == 1.0


def test_lift_parquet_columns(tmp_path):
    from offline_rl.evaluation import write_report

    result = evaluate_arrays(config=EvaluationConfig(n_replicates=10, estimators=("snips",)), **_arrays())
    paths = write_report(result, tmp_path)
    lift = pl.read_parquet(paths["lift"])
    for column in ("reliable", "reliability_reason", "effective_positives", "baseline_ess",
                   "baseline_max_weight", "dropped_replicates"):
        assert column in lift.columns
    page = paths["html"].read_text()
    assert "UNRELIABLE" in page and "resampling unit: events" in page

"""evaluate_arrays / evaluate_logs: estimators agree with the array functions; config validation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offline_rl.evaluation import (
    EvaluationConfig,
    RewardModel,
    doubly_robust,
    evaluate_arrays,
    evaluate_logs,
    ips,
    ncis,
    relative_lift,
    snips,
)
from offline_rl.evaluation.report import format_table, report_dict


def _world(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    propensity = rng.choice([0.25, 0.5], n)
    policies = {"a": rng.uniform(0, 1, n), "b": np.full(n, 0.3)}
    rewards = {
        "click": (rng.random(n) < 0.3).astype(float),
        "like": (rng.random(n) < 0.1).astype(float),
    }
    return rng, propensity, policies, rewards


def test_values_match_array_estimators_and_dr():
    rng, p, policies, rewards = _world()
    models = {
        "click": RewardModel(
            logged=np.full(p.size, 0.28),
            under_policy={"a": np.full(p.size, 0.31), "b": np.full(p.size, 0.29)},
        )
    }
    result = evaluate_arrays(
        propensity=p,
        policies=policies,
        rewards=rewards,
        reward_models=models,
        config=EvaluationConfig(n_replicates=50),
    )
    frame = result.estimates.filter(pl.col("quantity") == "value")

    def value(policy, metric, estimator):
        return frame.filter(policy=policy, metric=metric, estimator=estimator)["point"].item()

    r, pi = rewards["click"], policies["a"]
    assert value("a", "click", "ips") == pytest.approx(ips(r, pi, p).value, rel=1e-12)
    assert value("a", "click", "snips") == pytest.approx(snips(r, pi, p).value, rel=1e-12)
    assert value("a", "click", "ncis") == pytest.approx(ncis(r, pi, p, cap=10.0).value, rel=1e-12)
    assert value("a", "click", "dr") == pytest.approx(
        doubly_robust(
            r,
            pi,
            p,
            reward_logged=models["click"].logged,
            expected_reward_target=models["click"].under_policy["a"],
        ).value
    )
    assert value("logged", "click", "on_policy") == pytest.approx(r.mean())
    # DM/DR only where a reward model exists
    assert frame.filter(metric="like", estimator="dr").height == 0
    lift = result.lift().filter(policy="a", metric="click", estimator="ips")
    assert lift["point"].item() == pytest.approx(ips(r, pi, p).value / r.mean() - 1)
    assert lift["lower"].item() < lift["point"].item() < lift["upper"].item()
    ess = frame.filter(policy="a", estimator="ips")["ess"][0]
    assert ess == pytest.approx(ips(r, pi, p).ess)


def test_relative_lift_and_table():
    _, p, policies, rewards = _world(seed=1)
    lifts = relative_lift(
        propensity=p,
        policies=policies,
        rewards=rewards,
        config=EvaluationConfig(n_replicates=100, estimators=("snips",)),
    )
    assert {(x.policy, x.metric) for x in lifts} == {
        ("a", "click"),
        ("a", "like"),
        ("b", "click"),
        ("b", "like"),
    }
    assert all(x.lower <= x.point <= x.upper for x in lifts)
    assert "%" in str(lifts[0])


def test_lift_over_a_baseline_policy():
    _, p, policies, rewards = _world(seed=2)
    result = evaluate_arrays(
        propensity=p, policies=policies, rewards=rewards,
        config=EvaluationConfig(n_replicates=100, estimators=("ips", "snips"), baseline="b"),
    )
    lift = result.lift()
    assert set(lift["policy"]) == {"a"} and set(lift["baseline"]) == {"b"}
    r = rewards["like"]
    row = lift.filter(metric="like", estimator="snips").row(0, named=True)
    expected = snips(r, policies["a"], p).value / snips(r, policies["b"], p).value - 1
    assert row["point"] == pytest.approx(expected, rel=1e-12)
    assert row["baseline_value"] == pytest.approx(snips(r, policies["b"], p).value, rel=1e-12)
    assert row["logged_value"] == pytest.approx(r.mean())
    assert row["lower"] < row["point"] < row["upper"]
    assert "Lift = V(candidate) / V(b) - 1" in report_dict(result)["lift_definition"]
    assert format_table(result).splitlines()[0].split()[2] == "b"
    with pytest.raises(ValueError, match="baseline policy 'c' must be one of"):
        evaluate_arrays(propensity=p, policies=policies, rewards=rewards,
                        config=EvaluationConfig(n_replicates=0, interval="delta", baseline="c"))
    with pytest.raises(ValueError, match="'baseline' parameter"):
        EvaluationConfig(baseline="logged")


def test_segments_and_users():
    rng, p, policies, rewards = _world(seed=2)
    users = rng.integers(0, 100, p.size)
    config = EvaluationConfig(n_replicates=100, resample="users", interval="bca")
    result = evaluate_arrays(
        propensity=p,
        policies=policies,
        rewards=rewards,
        users=users,
        segments=users % 3,
        config=config,
    )
    assert set(result.segments["segment"].unique()) == {"0", "1", "2"}
    assert set(result.segments["estimator"].unique()) == {"on_policy", "snips"}
    assert result.n_users == 100
    table = format_table(result)
    assert "users resampled" in table
    report = report_dict(result)
    assert report["schema_version"] == "1" and report["config"]["resample"] == "users"


def test_evaluate_logs_metrics_from_feedback():
    logs = pl.DataFrame(
        {
            "event_id": [1, 2, 3, 4],
            "user_id": [1, 1, 2, 2],
            "propensity": [0.5, 0.5, 0.5, 0.5],
            "feedback": ["click", "none", "like", "click"],
        }
    )
    result = evaluate_logs(
        logs, {"pi": np.array([1.0, 0.0, 0.5, 0.5])}, config=EvaluationConfig(n_replicates=20)
    )
    assert result.metrics == ("click", "like")
    value = result.estimates.filter(policy="pi", metric="click", estimator="ips", quantity="value")[
        "point"
    ].item()
    assert value == pytest.approx((2 * 1 + 1 * 1) / 4)


def test_config_round_trip():
    config = EvaluationConfig(estimators=("ips", "snips"), interval="bca", seed=3)
    assert EvaluationConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"estimators": ("ips", "switch")},
            r"The 'estimators' parameter must hold str among .* Got 'switch' instead.",
        ),
        (
            {"estimators": ("ips",)},
            r"The 'primary_estimator' parameter must be one of the estimators \['ips'\]. Got 'snips'",
        ),
        (
            {"weight_cap": 0},
            r"The 'weight_cap' parameter must be a finite number > 0. Got 0 instead.",
        ),
        (
            {"n_replicates": 1},
            r"The 'n_replicates' parameter must be 0 or an int >= 2. Got 1 instead.",
        ),
        ({"n_replicates": 0}, r"The 'interval' 'percentile' needs n_replicates >= 2"),
        (
            {"interval": "wald"},
            r"The 'interval' parameter must be a str among .* Got 'wald' instead.",
        ),
        (
            {"confidence": 95},
            r"The 'confidence' parameter must be a float in \(0, 1\). Got 95 instead.",
        ),
        (
            {"resample": "sessions"},
            r"The 'resample' parameter must be a str among \{'auto', 'events', 'users'\}. Got 'sessions'",
        ),
        (
            {"max_units": 10},
            r"The 'max_units' parameter must be None or an int >= 100. Got 10 instead.",
        ),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvaluationConfig(**kwargs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"propensity": np.array([0.5, 0.0])}, r"propensity must lie in \(0, 1\]; row 1 is 0.0"),
        (
            {"policies": {"a": np.array([0.5, 1.5])}},
            r"policy 'a' must lie in \[0, 1\]; row 1 is 1.5",
        ),
        ({"policies": {"logged": np.array([0.5, 0.5])}}, r"The policy name 'logged' is reserved"),
        (
            {"policies": {"a": np.array([0.5])}},
            r"Expected policy 'a' to be a vector of 2 probabilities",
        ),
        (
            {"rewards": {"click": np.array([1.0, np.nan])}},
            r"Rewards of metric 'click' must be 2 finite numbers",
        ),
        ({"segments": np.arange(2)[:1]}, r"Expected one segment label per event \(2\)"),
    ],
)
def test_bad_arrays(change, message):
    kwargs = {
        "propensity": np.array([0.5, 0.5]),
        "policies": {"a": np.array([0.5, 0.5])},
        "rewards": {"click": np.array([1.0, 0.0])},
    }
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        evaluate_arrays(config=EvaluationConfig(n_replicates=10), **kwargs)

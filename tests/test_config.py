"""The one config mechanism (offline_rl.config) and every config that uses it.

One parametrised table of bad settings for all configs: each row is (config class, settings,
the message it must raise). A config added to the toolkit joins ``CONFIGS`` and gets the
round-trip, unknown-key, version-key and constraint-table checks for free.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest

from offline_rl.config import (
    Choice,
    Config,
    ConfigError,
    Integer,
    Optional,
    Real,
    Rule,
    Strings,
    field_help,
)
from offline_rl.data.prepare import PrepareConfig
from offline_rl.evaluation.evaluate import EvaluationConfig
from offline_rl.igl.config import IGLPConfig
from offline_rl.mtrec.classifier import MTRecConfig
from offline_rl.mtrec.experiment import ExperimentConfig
from offline_rl.nightly.config import NightlyConfig
from offline_rl.nightly.promotion import PromotionRule
from offline_rl.nightly.split import HoldoutConfig
from offline_rl.qriql.config import QRIQLConfig
from offline_rl.simulators.covertype import CovertypeConfig
from offline_rl.simulators.news import NewsConfig
from offline_rl.simulators.production import ProductionConfig
from offline_rl.simulators.sessions import SessionsConfig
from offline_rl.simulators.simulation import SimulationRun

#: Every config class and one valid, non-default instance of it.
CONFIGS: list[Config] = [
    IGLPConfig(states=3, negative_signals=("dislike",), alpha=0.5, seed=3),
    NightlyConfig(logs="logs/", date="2026-11-01", states=2, negative_signals=("dislike", "angry"), seed=5,
                  max_weight=20.0, vocabulary=("none", "click", "dislike"), bootstrap_replicates=0,
                  holdout_days=2, holdout_fraction=0.3, primary_metric="like", negative_metrics=("dislike", "skip"),
                  promotion_margin=0.01, negative_lift_limit=0.0),
    HoldoutConfig(holdout_days=3, holdout_fraction=0.25),
    PromotionRule(primary_metric="like", negative_metrics=(), margin=-0.05, negative_limit=0.2),
    EvaluationConfig(estimators=("ips", "snips"), interval="bca", seed=3, max_units=None, baseline="prod"),
    QRIQLConfig(quantiles=3, alpha=0.25, gamma=0.5, terminal_value="learned", epochs=2, seed=4),
    MTRecConfig(backbone="sasrec", kappa=0.3, standardize_rewards=False, seed=2),
    ExperimentConfig(rows=600, backbones=("din", "pnn"), satisfaction_rows=0,
                     extra={"n_users": 20, "n_items": 40}),
    PrepareConfig(max_weight=50.0, session_gap_seconds=600, history_length=4, negative_signals=["skip"]),
    CovertypeConfig(n_users=10, logging="epsilon_greedy", epsilon=0.2, path="covtype.csv.gz"),
    ProductionConfig(style_mix=[0.5, 0.25, 0.25], n_candidates=10, logging="uniform"),
    ProductionConfig(logging="bandit", exploration=0.15, refresh_rounds=100, ridge=2.0),
    NewsConfig(group_mix=(0.5, 0.5, 0.0), min_candidates=3, max_candidates=3, n_posts=20),
    SessionsConfig(n_items=50, n_categories=50, n_candidates=50, distrust_weight=1.0, click_bias=-1),
    SimulationRun(rows=0, seed=7),
]

BAD = [
    (IGLPConfig, {"states": 4}, "'states' parameter of IGLPConfig must be an int in [2, 3]. Got 4 instead."),
    (IGLPConfig, {"states": 3}, "'negative_signals' parameter of IGLPConfig must be non-empty when states == 3"),
    (IGLPConfig, {"negative_signals": ("dislike",)}, "must be empty when states == 2"),
    (IGLPConfig, {"states": 3, "negative_signals": "dislike"},
     "'negative_signals' parameter of IGLPConfig must be a tuple of str without repeats. Got 'dislike' instead."),
    (IGLPConfig, {"states": 3, "negative_signals": ("dislike", "dislike")}, "without repeats"),
    (IGLPConfig, {"states": 3, "negative_signals": ("dislike",), "alpha": 0.0},
     "'alpha' parameter of IGLPConfig must be None or a float in (0, 1e+06]. Got 0.0 instead."),
    (IGLPConfig, {"alpha": 0.5}, "None or 1.0 when states == 2"),
    (IGLPConfig, {"exploration": "ucb"}, "'exploration' parameter of IGLPConfig must be a str among"),
    (IGLPConfig, {"ik_restarts": 0}, "'ik_restarts' parameter of IGLPConfig must be an int >= 1. Got 0"),
    (IGLPConfig, {"ik_restarts": True}, "'ik_restarts' parameter of IGLPConfig must be an int >= 1. Got True"),
    (IGLPConfig, {"validation_fraction": 1.0}, "'validation_fraction' parameter of IGLPConfig must be a float in [0, 1)"),
    (IGLPConfig, {"policy_weighting": "clipped"}, "'policy_weighting'"),
    (IGLPConfig, {"epsilon": float("nan")}, "'epsilon' parameter of IGLPConfig must be a float in [0, 1]. Got nan"),
    (IGLPConfig, {"crossfit_folds": 1}, "'crossfit_folds' parameter of IGLPConfig must be an int >= 2. Got 1"),
    (IGLPConfig, {"user_prior_precision": -1.0}, "'user_prior_precision' parameter of IGLPConfig must be a float >= 0"),
    (IGLPConfig, {"ik_patience": 0}, "'ik_patience' parameter of IGLPConfig must be an int >= 1. Got 0"),
    (IGLPConfig, {"context_interaction": 1}, "'context_interaction' parameter of IGLPConfig must be a bool"),
    # NightlyConfig: a bare string from a TOML file used to become ('d', 'i', 's', ...)
    (NightlyConfig, {"logs": "x", "negative_signals": "dislike"},
     "'negative_signals' parameter of NightlyConfig must be a tuple of str without repeats. Got 'dislike' instead."),
    (NightlyConfig, {"logs": "x", "states": 3, "negative_signals": ()},
     "'negative_signals' parameter of NightlyConfig must be non-empty when states == 3"),
    (NightlyConfig, {}, "'logs' parameter of NightlyConfig must be a non-empty str. Got '' instead."),
    (NightlyConfig, {"logs": "x", "states": 4}, "'states' parameter of NightlyConfig must be an int in [2, 3]. Got 4"),
    (NightlyConfig, {"logs": "x", "date": "yesterday"},
     "'date' parameter of NightlyConfig must be 'latest' or a date YYYY-MM-DD. Got 'yesterday'"),
    (NightlyConfig, {"logs": "x", "alpha": 0}, "'alpha' parameter of NightlyConfig must be a float in (0, 1e+06]"),
    (NightlyConfig, {"logs": "x", "bootstrap_replicates": 1},
     "'bootstrap_replicates' parameter of NightlyConfig must be 0 (delta-method intervals) or an int >= 2. Got 1"),
    (NightlyConfig, {"logs": "x", "max_weight": 0.0}, "'max_weight' parameter of NightlyConfig must be None or a float > 0"),
    (NightlyConfig, {"logs": "x", "vocabulary": ()}, "'vocabulary' parameter of NightlyConfig must be None or a tuple of str"),
    (NightlyConfig, {"logs": "x", "warm_start": "no"}, "'warm_start' parameter of NightlyConfig must be a bool. Got 'no'"),
    (NightlyConfig, {"logs": "x", "window_days": 0}, "'window_days' parameter of NightlyConfig must be an int >= 1. Got 0"),
    (NightlyConfig, {"logs": "x", "holdout_days": 0}, "'holdout_days' parameter of NightlyConfig must be an int >= 1. Got 0"),
    (NightlyConfig, {"logs": "x", "holdout_fraction": 1},
     "'holdout_fraction' parameter of NightlyConfig must be a float in (0, 1). Got 1 instead."),
    (NightlyConfig, {"logs": "x", "primary_metric": ""}, "'primary_metric' parameter of NightlyConfig must be a non-empty str"),
    (NightlyConfig, {"logs": "x", "negative_metrics": "dislike"},
     "'negative_metrics' parameter of NightlyConfig must be a tuple of str without repeats. Got 'dislike' instead."),
    (NightlyConfig, {"logs": "x", "negative_metrics": ("click",)},
     "'negative_metrics' parameter of NightlyConfig must be a tuple without the primary metric. Got ('click',)"),
    (NightlyConfig, {"logs": "x", "promotion_margin": -1.5},
     "'promotion_margin' parameter of NightlyConfig must be a float >= -1. Got -1.5"),
    (NightlyConfig, {"logs": "x", "negative_lift_limit": float("inf")},
     "'negative_lift_limit' parameter of NightlyConfig must be a float >= -1. Got inf"),
    (HoldoutConfig, {"holdout_days": 1.5}, "'holdout_days' parameter of HoldoutConfig must be an int >= 1. Got 1.5"),
    (HoldoutConfig, {"holdout_fraction": 0.0}, "'holdout_fraction' parameter of HoldoutConfig must be a float in (0, 1)"),
    (PromotionRule, {"primary_metric": "dislike"},
     "'negative_metrics' parameter of PromotionRule must be a tuple without the primary metric"),
    (PromotionRule, {"negative_limit": "0.1"}, "'negative_limit' parameter of PromotionRule must be a float >= -1"),
    # EvaluationConfig
    (EvaluationConfig, {"estimators": ("ips", "switch")},
     "'estimators' parameter of EvaluationConfig must be a tuple of str among {'ips', 'capped_ips', 'snips'"),
    (EvaluationConfig, {"estimators": ()}, "'estimators' parameter of EvaluationConfig must be a tuple of str"),
    (EvaluationConfig, {"estimators": ("ips",)},
     "'primary_estimator' parameter of EvaluationConfig must be one of `estimators`. Got 'snips'"),
    (EvaluationConfig, {"weight_cap": 0}, "'weight_cap' parameter of EvaluationConfig must be a float > 0. Got 0 instead."),
    (EvaluationConfig, {"n_replicates": 1},
     "'n_replicates' parameter of EvaluationConfig must be 0 (no bootstrap) or an int >= 2. Got 1"),
    (EvaluationConfig, {"n_replicates": 0},
     "'interval' parameter of EvaluationConfig must be 'delta' when n_replicates == 0"),
    (EvaluationConfig, {"interval": "wald"}, "'interval' parameter of EvaluationConfig must be a str among"),
    (EvaluationConfig, {"confidence": 95}, "'confidence' parameter of EvaluationConfig must be a float in (0, 1). Got 95"),
    (EvaluationConfig, {"resample": "sessions"},
     "'resample' parameter of EvaluationConfig must be a str among {'auto', 'events', 'users'}. Got 'sessions'"),
    (EvaluationConfig, {"max_units": 10}, "'max_units' parameter of EvaluationConfig must be None or an int >= 100. Got 10"),
    (EvaluationConfig, {"baseline": "logged"}, "'baseline' parameter of EvaluationConfig must be None (lift over the logged"),
    (EvaluationConfig, {"seed": -1}, "'seed' parameter of EvaluationConfig must be an int >= 0. Got -1"),
    (QRIQLConfig, {"quantiles": 0}, "'quantiles' parameter of QRIQLConfig must be an int >= 1. Got 0 instead."),
    (QRIQLConfig, {"quantiles": 2.0}, "'quantiles' parameter of QRIQLConfig must be an int >= 1. Got 2.0"),
    (QRIQLConfig, {"n_actions": 1}, "'n_actions' parameter of QRIQLConfig must be an int >= 2. Got 1"),
    (QRIQLConfig, {"alpha": 0}, "'alpha' parameter of QRIQLConfig must be a float > 0. Got 0 instead."),
    (QRIQLConfig, {"gamma": 1.0}, "'gamma' parameter of QRIQLConfig must be a float in [0, 1). Got 1.0"),
    (QRIQLConfig, {"gamma": float("nan")}, "'gamma' parameter of QRIQLConfig must be a float in [0, 1). Got nan"),
    (QRIQLConfig, {"temperature": 0.0}, "'temperature' parameter of QRIQLConfig must be a float > 0"),
    (QRIQLConfig, {"huber_kappa": -1.0}, "'huber_kappa' parameter of QRIQLConfig must be a float >= 0"),
    (QRIQLConfig, {"terminal_value": "absorbing"}, "'terminal_value' parameter of QRIQLConfig must be a str among {'zero', 'learned'}"),
    (QRIQLConfig, {"epochs": 0}, "'epochs' parameter of QRIQLConfig must be None or an int >= 1. Got 0"),
    (QRIQLConfig, {"use_context": "yes"}, "'use_context' parameter of QRIQLConfig must be a bool"),
    (QRIQLConfig, {"learning_rate": 0.0}, "'learning_rate' parameter of QRIQLConfig must be a float > 0"),
    (QRIQLConfig, {"seed": -1}, "'seed' parameter of QRIQLConfig must be an int >= 0. Got -1"),
    (MTRecConfig, {"backbone": "lstm"}, "'backbone' parameter of MTRecConfig must be a str among {'wide_deep', 'deepfm', 'pnn', 'din', 'dien', 'sasrec'}. Got 'lstm'"),
    (MTRecConfig, {"kappa": -0.1}, "'kappa' parameter of MTRecConfig must be a float >= 0. Got -0.1"),
    (MTRecConfig, {"kappa": float("inf")}, "'kappa' parameter of MTRecConfig must be a float >= 0. Got inf"),
    (MTRecConfig, {"history_length": 0}, "'history_length' parameter of MTRecConfig must be an int >= 1"),
    (MTRecConfig, {"batch_size": True}, "'batch_size' parameter of MTRecConfig must be an int >= 1. Got True"),
    (MTRecConfig, {"standardize_rewards": 1}, "'standardize_rewards' parameter of MTRecConfig must be a bool"),
    (MTRecConfig, {"weight_decay": -1e-6}, "'weight_decay' parameter of MTRecConfig must be a float >= 0"),
    (ExperimentConfig, {"backbones": "din"}, "'backbones' parameter of ExperimentConfig must be a tuple of str among"),
    (ExperimentConfig, {"backbones": ("din", "lstm")}, "'backbones' parameter of ExperimentConfig must be a tuple of str among"),
    (ExperimentConfig, {"backbones": ()}, "with at least 1 element(s)"),
    (ExperimentConfig, {"rows": 0}, "'rows' parameter of ExperimentConfig must be an int >= 1. Got 0"),
    (ExperimentConfig, {"satisfaction_rows": -1}, "'satisfaction_rows' parameter of ExperimentConfig must be an int >= 0"),
    (ExperimentConfig, {"gamma": 1.0}, "'gamma' parameter of ExperimentConfig must be a float in [0, 1)"),
    (ExperimentConfig, {"satisfaction_gamma": -0.1}, "'satisfaction_gamma' parameter of ExperimentConfig must be a float in [0, 1)"),
    (ExperimentConfig, {"test_fraction": 0.0}, "'test_fraction' parameter of ExperimentConfig must be a float in (0, 1)"),
    (ExperimentConfig, {"rl_iterations": -1}, "'rl_iterations' parameter of ExperimentConfig must be an int >= 0"),
    (ExperimentConfig, {"extra": {"n_user": 20}}, "'extra' parameter of ExperimentConfig must be a mapping whose keys are SessionsConfig fields"),
    (ExperimentConfig, {"extra": [("n_users", 20)]}, "'extra' parameter of ExperimentConfig must be a mapping with str keys"),
    # PrepareConfig: a bare string became its characters; bools, strings and infinities got through.
    (PrepareConfig, {"negative_signals": "dislike"},
     "'negative_signals' parameter of PrepareConfig must be a tuple of str without repeats. Got 'dislike' instead."),
    (PrepareConfig, {"history_length": True}, "'history_length' parameter of PrepareConfig must be an int >= 1. Got True"),
    (PrepareConfig, {"history_length": 0}, "'history_length' parameter of PrepareConfig must be an int >= 1. Got 0"),
    (PrepareConfig, {"session_gap_seconds": True}, "'session_gap_seconds' parameter of PrepareConfig must be a float > 0"),
    (PrepareConfig, {"session_gap_seconds": "1800"}, "'session_gap_seconds' parameter of PrepareConfig must be a float > 0"),
    (PrepareConfig, {"session_gap_seconds": float("inf")}, "must be a float > 0. Got inf instead."),
    (PrepareConfig, {"max_weight": "5"}, "'max_weight' parameter of PrepareConfig must be None or a float > 0. Got '5'"),
    (PrepareConfig, {"max_weight": float("inf")}, "'max_weight' parameter of PrepareConfig must be None or a float > 0"),
    (PrepareConfig, {"max_weight": 0.0}, "'max_weight' parameter of PrepareConfig must be None or a float > 0. Got 0.0"),
    # Simulators: a scalar mix crashed with TypeError; a Path broke the JSON round trip.
    (CovertypeConfig, {"n_users": 1}, "'n_users' parameter of CovertypeConfig must be an int >= 2. Got 1 instead."),
    (CovertypeConfig, {"logging": "greedy"}, "'logging' parameter of CovertypeConfig must be a str among"),
    (CovertypeConfig, {"epsilon": 0.0}, "'epsilon' parameter of CovertypeConfig must be a float in (0, 1]. Got 0.0"),
    (CovertypeConfig, {"standardize_context": 1}, "'standardize_context' parameter of CovertypeConfig must be a bool"),
    (CovertypeConfig, {"path": pathlib.Path("covtype.csv")},
     "'path' parameter of CovertypeConfig must be None or a non-empty str. Got PosixPath('covtype.csv')"),
    (ProductionConfig, {"style_mix": 0.4}, "'style_mix' parameter of ProductionConfig must be a tuple of 3 numbers"),
    (ProductionConfig, {"style_mix": (0.5, 0.5, 0.5)}, "each a float in [0, 1], summing to 1. Got (0.5, 0.5, 0.5)"),
    (ProductionConfig, {"n_items": 10}, "'n_candidates' parameter of ProductionConfig must be an int <= n_items. Got 20"),
    (ProductionConfig, {"exploration": 0.0}, "'exploration' parameter of ProductionConfig must be a float in (0, 1]"),
    (ProductionConfig, {"logging": "greedy"}, "'logging' parameter of ProductionConfig must be a str among {'production', 'uniform', 'bandit'}"),
    (ProductionConfig, {"refresh_rounds": 0}, "'refresh_rounds' parameter of ProductionConfig must be an int >= 1. Got 0"),
    (ProductionConfig, {"ridge": 0.0}, "'ridge' parameter of ProductionConfig must be a float > 0. Got 0.0"),
    (NewsConfig, {"group_mix": 1.0}, "'group_mix' parameter of NewsConfig must be a tuple of 3 numbers"),
    (NewsConfig, {"n_posts": 10}, "'max_candidates' parameter of NewsConfig must be an int in [min_candidates, n_posts]"),
    (NewsConfig, {"min_candidates": 13}, "'max_candidates' parameter of NewsConfig must be an int in [min_candidates"),
    (NewsConfig, {"logging": "softmax"}, "'logging' parameter of NewsConfig must be a str among {'uniform'}"),
    (SessionsConfig, {"n_items": 5}, "'n_categories' parameter of SessionsConfig must be an int <= n_items. Got 10"),
    (SessionsConfig, {"n_items": 5, "n_categories": 2}, "'n_candidates' parameter of SessionsConfig must be an int <= n_items"),
    (SessionsConfig, {"distrust_decay": 1.0}, "'distrust_decay' parameter of SessionsConfig must be a float in [0, 1)"),
    (SessionsConfig, {"max_session_length": 10_001}, "'max_session_length' parameter of SessionsConfig must be an int in [1, 10000]"),
    (SessionsConfig, {"click_bias": float("nan")}, "'click_bias' parameter of SessionsConfig must be a finite float. Got nan"),
    (SimulationRun, {"rows": -1, "seed": 0}, "'rows' parameter of SimulationRun must be an int >= 0. Got -1 instead."),
    (SimulationRun, {"rows": 10, "seed": True}, "'seed' parameter of SimulationRun must be an int >= 0. Got True"),
]


@pytest.mark.parametrize("cls, settings, message", BAD, ids=lambda v: getattr(v, "__name__", None))
def test_bad_settings_raise_one_message(cls, settings, message):
    with pytest.raises(ConfigError) as raised:
        cls(**settings)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_json_round_trip(config):
    data = json.loads(json.dumps(config.to_dict()))
    assert data["schema_version"] == type(config).SCHEMA_VERSION
    assert "version" not in data or "version" in {f.name for f in dataclasses.fields(config)}
    assert type(config).from_dict(data) == config


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_unknown_keys_and_wrong_version_are_refused(config):
    cls = type(config)
    data = config.to_dict()
    with pytest.raises(ConfigError, match=rf"Unknown {cls.__name__} setting\(s\) \['sedd'\]"):
        cls.from_dict({**data, "sedd": 1})
    with pytest.raises(ConfigError, match="schema_version"):
        cls.from_dict({**data, "schema_version": "0"})


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_legacy_version_key_is_read(config):
    data = config.to_dict()
    data["version"] = data.pop("schema_version")
    assert type(config).from_dict(data) == config


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_every_field_is_constrained_and_documented(config):
    cls = type(config)
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(cls.CONSTRAINTS) == names
    assert dataclasses.fields(cls) and all(f.kw_only for f in dataclasses.fields(cls))
    assert set(field_help(cls)) >= names, sorted(names - set(field_help(cls)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]


def test_a_table_that_misses_a_field_is_refused():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Broken(Config):
        a: int = 1
        """An int."""
        b: int = 2
        """Another."""

        CONSTRAINTS = {"a": Integer()}

    with pytest.raises(TypeError, match=r"missing \['b'\]"):
        Broken()


def test_values_are_normalised():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Example(Config):
        names: tuple[str, ...] = ()
        """Names."""
        rate: float = 1.0
        """A rate."""
        cap: float | None = None
        """A cap."""
        mode: str = "a"
        """A mode."""

        CONSTRAINTS = {
            "names": Strings(options=("x", "y")),
            "rate": Real(0.0, 2.0),
            "cap": Optional(Real(0.0, low_open=True)),
            "mode": Choice(("a", "b")),
        }
        RULES = (Rule("cap", "set when mode == 'b'", lambda c: c.mode == "a" or c.cap is not None),)

    example = Example(names=["x"], rate=1)
    assert example.names == ("x",) and isinstance(example.rate, float)
    assert example.to_dict() == {"schema_version": "1", "names": ["x"], "rate": 1.0, "cap": None, "mode": "a"}
    with pytest.raises(ConfigError, match=r"must be a tuple of str among \{'x', 'y'\}"):
        Example(names=("z",))
    with pytest.raises(ConfigError, match="'cap' parameter of Example must be set when mode == 'b'. Got None"):
        Example(mode="b")
    with pytest.raises(ConfigError, match=r"must be None or a float > 0. Got 0 instead"):
        Example(cap=0)
    assert example.replace(mode="b", cap=2.0).cap == 2.0

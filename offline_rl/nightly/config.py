"""Configuration of the nightly job, from a TOML/YAML file and command-line flags (flags win)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offline_rl.config import Boolean, Config, Date, Integer, Optional, Real, Rule, Strings, Text
from offline_rl.data.prepare import PrepareConfig
from offline_rl.nightly.promotion import PromotionRule
from offline_rl.nightly.split import HoldoutConfig

if TYPE_CHECKING:
    from offline_rl.evaluation.evaluate import EvaluationConfig
    from offline_rl.igl.config import IGLPConfig
    from offline_rl.qriql.config import QRIQLConfig


@dataclass(frozen=True, kw_only=True)
class NightlyConfig(Config):
    """Everything one nightly run depends on besides the log files themselves.

    Validated on construction against its constraint table (:mod:`offline_rl.config`),
    whether it comes from Python, a TOML/YAML/JSON file or command-line flags. The configs
    of the SQL jobs, the learners and the evaluation are derived from it once per run
    (:func:`step_configs`).
    """

    logs: str = ""
    """Logs location (required): a Hive-partitioned folder (``date=YYYY-MM-DD/``), a glob,
    or a file."""

    date: str = "latest"
    """The partition to run on (``YYYY-MM-DD``), or ``latest`` for the newest one."""

    runs_dir: str = "runs"
    """Folder holding one sub-folder per run (``runs/<date>/``)."""

    window_days: int = 1
    """Number of daily partitions up to ``date`` that the run reads (fit and evaluation)."""

    holdout_days: int = 1
    """Days at the end of a window of several daily partitions that are held out: the run
    fits on the days before them and evaluates every candidate on them only."""

    holdout_fraction: float = 0.2
    """Share of the latest events (by time) held out when the window is a single day, the
    logs are not partitioned by date, or the window has no more days than holdout_days."""

    seed: int = 0
    """Seed of every learner and of the bootstrap; same inputs and seed, same outputs."""

    warm_start: bool = True
    """Start IGL-P from the newest earlier run's model when one exists."""

    states: int = 3
    """Latent reward states of IGL-P: 2 or 3."""

    negative_signals: tuple[str, ...] = ("dislike",)
    """Definitely-negative oracle signals of IGL-P(3), e.g. dislike (unused when states = 2)."""

    alpha: float = 1.0
    """Negative labelling propensity of IGL-P(3) (decoded reward -1/alpha)."""

    max_weight: float | None = None
    """Clip of the IK importance weights 1/(K·P); none by default."""

    ik_epochs: int = 30
    """Passes over the data for each IK restart."""

    ik_restarts: int = 2
    """IK restarts, the best kept by held-out IK log-likelihood."""

    fit_qriql: bool = True
    """Also fit the QR-IQL mental reward model on user trajectories."""

    quantiles: int = 10
    """Quantile heads of QR-IQL (1 = plain IQ-Learn)."""

    qriql_steps: int = 250
    """Optimiser steps of QR-IQL (mini-batches of up to 4000 trajectory steps)."""

    bootstrap_replicates: int = 1000
    """Bootstrap replicates of the lift intervals (0: delta-method intervals, no bootstrap)."""

    actions: str | None = None
    """Parquet of action features (``action_id, features``) for IGL-P and QR-IQL."""

    segments: str | None = None
    """Parquet of ``user_id, segment`` (e.g. country, platform): per-segment report bars,
    and the ``user_segments`` view of ``offline-rl sql``."""

    vocabulary: tuple[str, ...] | None = None
    """Allowed feedback signals; default: what the files declare, else the built-in set."""

    primary_metric: str = "click"
    """Promotion: the feedback signal whose lift decides; its interval's lower end must reach
    promotion_margin."""

    negative_metrics: tuple[str, ...] = ("dislike",)
    """Promotion: signals nobody wants more of; each lift's upper end must stay at or below
    negative_lift_limit (empty when the logs have none)."""

    promotion_margin: float = 0.0
    """Promotion: smallest acceptable lower end of the primary metric's relative lift (0: the
    interval must exclude a loss)."""

    negative_lift_limit: float = 0.1
    """Promotion: largest acceptable upper end of a negative metric's relative lift (0.1: a
    rise of more than 10% must be ruled out)."""

    threads: int = 1
    """CPU threads for torch (fixed so that results are reproducible). One by default: the
    models are small, and on a shared 2-core machine a second torch thread measured 30-80x
    slower training (see BENCHMARKS.md, QR-IQL)."""

    CONSTRAINTS = {
        "logs": Text(),
        "date": Date(keywords=("latest",)),
        "runs_dir": Text(),
        "window_days": Integer(1),
        "holdout_days": HoldoutConfig.CONSTRAINTS["holdout_days"],
        "holdout_fraction": HoldoutConfig.CONSTRAINTS["holdout_fraction"],
        "seed": Integer(0),
        "warm_start": Boolean(),
        "states": Integer(2, 3),
        "negative_signals": Strings(),
        "alpha": Real(0.0, 1e6, low_open=True),
        "max_weight": Optional(Real(0.0, low_open=True)),
        "ik_epochs": Integer(1),
        "ik_restarts": Integer(1),
        "fit_qriql": Boolean(),
        "quantiles": Integer(1),
        "qriql_steps": Integer(1),
        "bootstrap_replicates": Integer(0),
        "actions": Optional(Text()),
        "segments": Optional(Text()),
        "vocabulary": Optional(Strings(min_length=1)),
        "primary_metric": PromotionRule.CONSTRAINTS["primary_metric"],
        "negative_metrics": PromotionRule.CONSTRAINTS["negative_metrics"],
        "promotion_margin": PromotionRule.CONSTRAINTS["margin"],
        "negative_lift_limit": PromotionRule.CONSTRAINTS["negative_limit"],
        "threads": Integer(1),
    }
    RULES = (
        Rule("negative_signals",
             "non-empty when states == 3 (the definitely-negative oracle, e.g. ['dislike'])",
             lambda c: c.states == 2 or bool(c.negative_signals)),
        Rule("bootstrap_replicates", "0 (delta-method intervals) or an int >= 2",
             lambda c: c.bootstrap_replicates != 1),
        Rule("negative_metrics", "a tuple without the primary metric",
             lambda c: c.primary_metric not in c.negative_metrics),
    )


@dataclass(frozen=True, kw_only=True)
class StepConfigs:
    """What each step of one run is configured with, derived once from a NightlyConfig.

    The steps read their settings from here only, and each step's fingerprint is built
    from the ``to_dict()`` of the config it uses (plus hashes of the files it reads; see
    :func:`offline_rl.nightly.pipeline.step_settings`), so a setting added to one of these
    configs re-runs exactly the steps that use it instead of reusing a stale output.
    """

    vocabulary: tuple[str, ...] | None
    """Allowed feedback signals of the ``validate`` and ``prepare`` steps."""

    prepare: PrepareConfig
    """The SQL jobs of the ``prepare`` step."""

    igl: IGLPConfig
    """IGL-P of the ``fit_igl`` step."""

    qriql: QRIQLConfig | None
    """QR-IQL of the ``fit_qriql`` step; None when the run skips it."""

    evaluation: EvaluationConfig
    """Off-policy evaluation of the ``evaluate`` step."""

    actions: str | None
    """Action features read by both learners."""

    segments: str | None
    """User segments read by the ``evaluate`` step."""

    holdout: HoldoutConfig
    """Where the window is cut into training and evaluation events (after ``prepare``)."""

    promotion: PromotionRule
    """The gate the ``evaluate`` step applies to the candidate policy."""


def step_configs(config: NightlyConfig) -> StepConfigs:
    """The configs of every step of a run of ``config`` (see :class:`StepConfigs`).

    IGL-P's oracle settings apply to 3 states only: with ``states = 2`` the learner gets no
    negative signals and alpha = 1. Without bootstrap replicates the lift intervals are the
    delta method's, as in ``offline-rl evaluate --replicates 0``.
    """
    # Imported here: offline_rl.igl and offline_rl.qriql load torch, which `--help` does
    # not need.
    from offline_rl.evaluation.evaluate import EvaluationConfig
    from offline_rl.igl.config import IGLPConfig
    from offline_rl.qriql.config import QRIQLConfig

    three_states = config.states == 3
    return StepConfigs(
        vocabulary=config.vocabulary,
        prepare=PrepareConfig(max_weight=config.max_weight),
        igl=IGLPConfig(
            states=config.states,
            negative_signals=config.negative_signals if three_states else (),
            alpha=config.alpha if three_states else 1.0,
            seed=config.seed,
            ik_epochs=config.ik_epochs,
            ik_restarts=config.ik_restarts,
            max_threads=config.threads,
        ),
        qriql=QRIQLConfig(
            quantiles=config.quantiles, steps=config.qriql_steps, seed=config.seed, max_threads=config.threads
        ) if config.fit_qriql else None,
        evaluation=EvaluationConfig(
            n_replicates=config.bootstrap_replicates,
            interval="percentile" if config.bootstrap_replicates else "delta",
            seed=config.seed,
        ),
        actions=config.actions,
        segments=config.segments,
        holdout=HoldoutConfig(holdout_days=config.holdout_days, holdout_fraction=config.holdout_fraction),
        promotion=PromotionRule(
            primary_metric=config.primary_metric, negative_metrics=config.negative_metrics,
            margin=config.promotion_margin, negative_limit=config.negative_lift_limit,
        ),
    )


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file (a ``[nightly]`` table
    or top-level keys)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: unsupported config type {suffix!r}; use .toml, .yaml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot parse the config: {error}") from error
    except Exception as error:  # yaml.YAMLError without importing yaml eagerly
        if type(error).__module__.startswith("yaml"):
            raise ValueError(f"{path}: cannot parse the config: {error}") from error
        raise
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a table of settings")
    return dict(data.get("nightly", data))


def build_config(file_settings: Mapping[str, Any] | None = None, **flags: Any) -> NightlyConfig:
    """Merge file settings and flags (flags that were given win) into a config."""
    merged = dict(file_settings or {})
    merged.update({key: value for key, value in flags.items() if value is not None})
    return NightlyConfig.from_dict(merged)


__all__ = ["NightlyConfig", "StepConfigs", "build_config", "read_config_file", "step_configs"]

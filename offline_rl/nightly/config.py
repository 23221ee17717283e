"""Configuration of the nightly job, from a TOML/YAML file and command-line flags (flags win)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_SCHEMA_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class NightlyConfig:
    """Everything one nightly run depends on besides the log files themselves."""

    logs: str
    """Logs location: a Hive-partitioned folder (``date=YYYY-MM-DD/``), a glob, or a file."""

    date: str = "latest"
    """The partition to run on (``YYYY-MM-DD``), or ``latest`` for the newest one."""

    runs_dir: str = "runs"
    """Folder holding one sub-folder per run (``runs/<date>/``)."""

    window_days: int = 1
    """Number of daily partitions up to ``date`` that the run trains on."""

    seed: int = 0
    """Seed of every learner and of the bootstrap; same inputs and seed, same outputs."""

    warm_start: bool = True
    """Start IGL-P from the newest earlier run's model when one exists."""

    states: int = 3
    """Latent reward states of IGL-P: 2 or 3."""

    negative_signals: tuple[str, ...] = ("dislike",)
    """Definitely-negative oracle signals of IGL-P(3)."""

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
    """Bootstrap replicates of the lift intervals."""

    actions: str | None = None
    """Parquet of action features (``action_id, features``) for IGL-P and QR-IQL."""

    segments: str | None = None
    """Parquet of ``user_id, segment`` (e.g. country, platform): per-segment report bars,
    and the ``user_segments`` view of ``offline-rl sql``."""

    vocabulary: tuple[str, ...] | None = None
    """Allowed feedback signals; default: what the files declare, else the built-in set."""

    threads: int = 1
    """CPU threads for torch (fixed so that results are reproducible). One by default: the
    models are small, and on a shared 2-core machine a second torch thread measured 30-80x
    slower training (see BENCHMARKS.md, QR-IQL)."""

    def __post_init__(self) -> None:
        for name in ("negative_signals", "vocabulary"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        checks = [
            (bool(self.logs), "logs", "a non-empty location"),
            (self.date == "latest" or _is_date(self.date), "date", "'latest' or a date YYYY-MM-DD"),
            (isinstance(self.window_days, int) and self.window_days >= 1, "window_days", "an integer >= 1"),
            (isinstance(self.seed, int), "seed", "an integer"),
            (self.states in (2, 3), "states", "2 or 3"),
            (self.alpha > 0, "alpha", "> 0"),
            (self.max_weight is None or self.max_weight > 0, "max_weight", "> 0 or none"),
            (isinstance(self.ik_epochs, int) and self.ik_epochs >= 1, "ik_epochs", "an integer >= 1"),
            (isinstance(self.ik_restarts, int) and self.ik_restarts >= 1, "ik_restarts", "an integer >= 1"),
            (isinstance(self.quantiles, int) and self.quantiles >= 1, "quantiles", "an integer >= 1"),
            (isinstance(self.qriql_steps, int) and self.qriql_steps >= 1, "qriql_steps", "an integer >= 1"),
            (
                isinstance(self.bootstrap_replicates, int)
                and (self.bootstrap_replicates == 0 or self.bootstrap_replicates >= 2),
                "bootstrap_replicates",
                "0 or an integer >= 2",
            ),
            (isinstance(self.threads, int) and self.threads >= 1, "threads", "an integer >= 1"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise ValueError(
                    f"The {name!r} setting of the nightly config must be {rule}. Got {getattr(self, name)!r} instead."
                )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["negative_signals"] = list(self.negative_signals)
        data["vocabulary"] = list(self.vocabulary) if self.vocabulary is not None else None
        return {"schema_version": CONFIG_SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NightlyConfig:
        data = dict(data)
        data.pop("schema_version", None)
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown nightly setting(s) {unknown}; valid settings: {sorted(known)}")
        return cls(**data)


def _is_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return len(text) == 10


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


__all__ = ["CONFIG_SCHEMA_VERSION", "NightlyConfig", "build_config", "read_config_file"]

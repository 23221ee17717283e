"""What a simulator returns, and the shared body of the round-based simulators.

The environment is drawn from ``seed`` and the logged traffic from ``(seed, 1)``; the
returned :class:`SimulatedLogs` holds the canonical logs (hidden ``reward`` included), the
actions table, and the JSON-able ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from offline_rl.config import Config, Integer
from offline_rl.simulators.rounds import Policy
from offline_rl.simulators.running import run_policy

#: Version of the simulators' output (bumped when the same seed stops giving the same logs).
SIMULATOR_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class SimulationRun(Config):
    """How much to simulate and from which seed (every simulator's ``rows`` and ``seed``)."""

    rows: int
    """Number of logged decisions."""

    seed: int
    """Seed of the environment and of the traffic; the same seed gives the same tables."""

    CONSTRAINTS = {"rows": Integer(0), "seed": Integer(0)}


@dataclass(frozen=True, eq=False)
class SimulatedLogs:
    """What a simulator returns.

    Attributes
    ----------
    logs : pyarrow.Table
        Canonical logs (LOG_SCHEMA + vocabulary metadata), hidden ``reward`` included.
    actions : pyarrow.Table or None
        Action features (ACTIONS_SCHEMA) when the simulator has them.
    truth : dict
        JSON-able ground truth (never shown to learners).
    vocabulary : tuple of str
        The feedback vocabulary.
    environment : object or None
        The environment that produced the logs, for on-policy checks with :func:`run_policy`
        (not written to disk).
    """

    logs: pa.Table
    actions: pa.Table | None
    truth: dict[str, Any]
    vocabulary: tuple[str, ...]
    environment: Any = None


def simulate_round_based(
    *,
    name: str,
    version: str,
    config_class: type,
    environment_class: type,
    logging_policy: Callable[[Any], Policy],
    describe_logging: Callable[[Any, Any], dict[str, Any]],
    rows: int,
    seed: int,
    options: Mapping[str, Any],
) -> SimulatedLogs:
    """The shared body of the round-based simulators' ``simulate``.

    The environment is drawn from ``seed`` and the logged traffic from ``(seed, 1)``;
    ``options`` are fields of ``config_class``; ``truth`` records the simulator, the config,
    the logging policy (``describe_logging(config, env)``) and the environment's own truth.
    """
    run = SimulationRun(rows=rows, seed=seed)
    rows, seed = run.rows, run.seed
    config = config_class.from_dict(options)
    env = environment_class(config, seed=seed)
    logs = run_policy(
        env,
        logging_policy(env),
        rows,
        seed=[seed, 1],
        seconds_between_events=config.seconds_between_events,
    )
    truth = {
        "simulator": name,
        "simulator_version": version,
        "seed": seed,
        "rows": rows,
        "config": config.to_dict(),
        "logging_policy": describe_logging(config, env),
        **env.truth(),
    }
    actions = env.actions_table() if hasattr(env, "actions_table") else None
    return SimulatedLogs(
        logs=logs, actions=actions, truth=truth, vocabulary=env.vocabulary, environment=env
    )

"""Simulators that write canonical logs with a known hidden reward (numpy only, no torch).

==========  =====================================================  ==========================
name        problem                                                feedback
==========  =====================================================  ==========================
covertype   IGL-P Sec. 4.1: supervised-to-bandit Covertype, normal  ``word_000`` ... (M words)
            and bizarro users speaking good and bad words
production  IGL-P Sec. 4.3: image recommendation, latent reward in  none, click, like, dislike
            {-1, 0, 1}, clicker / liker / quiet users, clickbait
news        IGL-P Sec. 4.2: Facebook news, fox / huffpost / time    like, love, haha, wow, sad,
            readers, posts with type + text embedding, variable K   angry, comment, share, none
==========  =====================================================  ==========================

Use :func:`simulate_logs` to get a :class:`SimulatedLogs` and :func:`write_simulation` to
write it. Each simulator module also exposes its config, its environment class and
``logging_policy(env)``; :func:`run_policy` plays any policy on an environment's fresh traffic.

The shared pieces, one concern per module: :mod:`~offline_rl.simulators.rounds` (rounds,
policy and environment protocols), :mod:`~offline_rl.simulators.policies` (uniform and
softmax logging policies), :mod:`~offline_rl.simulators.sampling` (random draws),
:mod:`~offline_rl.simulators.rewards` (three-state latent rewards),
:mod:`~offline_rl.simulators.tables` (Arrow log and actions tables),
:mod:`~offline_rl.simulators.running` (:func:`run_policy`),
:mod:`~offline_rl.simulators.simulation` (:class:`SimulatedLogs`, the round-based body) and
:mod:`~offline_rl.simulators.output` (:func:`write_simulation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline_rl.simulators import covertype, news, production, sessions
from offline_rl.simulators.output import write_simulation
from offline_rl.simulators.policies import SoftmaxPolicy, UniformPolicy
from offline_rl.simulators.rounds import PAD_ACTION, Environment, Policy, Rounds
from offline_rl.simulators.running import run_policy
from offline_rl.simulators.simulation import SimulatedLogs


@dataclass(frozen=True)
class Simulator:
    """One registered simulator."""

    name: str
    config_class: type
    environment_class: type
    simulate: Callable[..., SimulatedLogs]
    logging_policy: Callable[[Any], Policy]
    description: str


SIMULATORS: dict[str, Simulator] = {
    "covertype": Simulator(
        name="covertype",
        config_class=covertype.CovertypeConfig,
        environment_class=covertype.CovertypeEnvironment,
        simulate=covertype.simulate,
        logging_policy=covertype.logging_policy,
        description="IGL-P Sec. 4.1: Covertype with normal/bizarro users and good/bad words.",
    ),
    "production": Simulator(
        name="production",
        config_class=production.ProductionConfig,
        environment_class=production.ProductionEnvironment,
        simulate=production.simulate,
        logging_policy=production.logging_policy,
        description="IGL-P Sec. 4.3: image recommendation, clicks/likes/dislikes, clickbait.",
    ),
    "news": Simulator(
        name="news",
        config_class=news.NewsConfig,
        environment_class=news.NewsEnvironment,
        simulate=news.simulate,
        logging_policy=news.logging_policy,
        description="IGL-P Sec. 4.2: fox/huffpost/time readers, emoji reactions, variable K.",
    ),
    # Sessions are sequential (a user's next step depends on this one's satisfaction), so
    # its environment plays policies through sessions.run_sessions, not run_policy.
    "sessions": Simulator(
        name="sessions",
        config_class=sessions.SessionsConfig,
        environment_class=sessions.SessionEnvironment,
        simulate=sessions.simulate,
        logging_policy=sessions.logging_policy,
        description="MTRec: click/skip sessions with hidden satisfaction, clickbait, fatigue.",
    ),
}


def simulate_logs(name: str, *, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """Run the simulator ``name`` for ``rows`` logged rounds.

    Parameters
    ----------
    name : str
        A key of :data:`SIMULATORS`.
    rows : int
        Number of logged decisions.
    seed : int
        Seed of the environment and of the traffic; same seed, same tables.
    **options
        Fields of the simulator's config dataclass.
    """
    if name not in SIMULATORS:
        raise ValueError(f"Unknown simulator {name!r}; valid names: {sorted(SIMULATORS)}.")
    return SIMULATORS[name].simulate(rows=rows, seed=seed, **options)


def make_environment(name: str, *, seed: int, **options: Any):
    """The environment ``simulate_logs(name, seed=seed, **options)`` uses, for on-policy runs."""
    if name not in SIMULATORS:
        raise ValueError(f"Unknown simulator {name!r}; valid names: {sorted(SIMULATORS)}.")
    spec = SIMULATORS[name]
    config = spec.config_class.from_dict(options)
    return spec.environment_class(config, seed=seed)


__all__ = [
    "PAD_ACTION",
    "SIMULATORS",
    "Environment",
    "Policy",
    "Rounds",
    "SimulatedLogs",
    "Simulator",
    "SoftmaxPolicy",
    "UniformPolicy",
    "make_environment",
    "run_policy",
    "simulate_logs",
    "write_simulation",
]

"""Pieces every simulator shares: rounds, policies, running a policy, building the log table.

An *environment* (one per simulator) draws rounds of traffic and answers for them:

* ``env.sample_rounds(n, rng) -> Rounds`` -- who arrives, their context and candidate set;
* ``env.latent_reward(rounds, actions) -> float64 (n,)`` -- the hidden reward of each shown action;
* ``env.feedback(rounds, actions, rewards, rng) -> object (n,)`` -- the observed signal (strings
  from ``env.vocabulary``).

A *policy* is any callable ``policy(rounds) -> float64 (n, K_max)`` giving probabilities over each
round's candidates, zero on padding. :func:`run_policy` plays a policy on fresh traffic and returns
the canonical log table (:data:`offline_rl.schema.LOG_SCHEMA`, hidden ``reward`` included), so a
learner can check its policy on-policy with exactly the machinery that wrote the training logs.

Candidate sets are stored padded: ``Rounds.candidate_actions`` is an ``(n, K_max)`` int64 array
whose first ``num_candidates[i]`` entries of row ``i`` are the action ids and whose remaining
entries are :data:`PAD_ACTION` (``-1``). Fixed-K simulators simply have ``num_candidates == K``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from offline_rl.schema import (
    ACTIONS_SCHEMA,
    HIDDEN_REWARD_COLUMN,
    LOG_SCHEMA,
    schema_with_vocabulary,
)

#: Padding value in ``Rounds.candidate_actions`` beyond ``num_candidates``.
PAD_ACTION = -1

#: Default first timestamp of simulated logs (UTC).
DEFAULT_START_TS = datetime(2024, 1, 1, tzinfo=UTC)

#: Version of the simulators' output (bumped when the same seed stops giving the same logs).
SIMULATOR_VERSION = "1"


@dataclass(frozen=True, eq=False)
class Rounds:
    """A batch of ``n`` decision rounds drawn by an environment.

    Attributes
    ----------
    user_id : int64 (n,)
        The arriving user (revealed to learners).
    context : float32 (n, d)
        Dense context features (revealed).
    candidate_actions : int64 (n, K_max)
        Candidate action ids, padded with :data:`PAD_ACTION` after ``num_candidates``.
    num_candidates : int64 (n,)
        ``K_t``, the size of each round's action set (``>= 1``).
    hidden : mapping of str to ndarray
        Ground truth for the environment's own use (labels, user styles, reader groups).
        Never written to the logs.
    """

    user_id: np.ndarray
    context: np.ndarray
    candidate_actions: np.ndarray
    num_candidates: np.ndarray
    hidden: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.user_id.shape[0]
        if self.context.ndim != 2 or self.context.shape[0] != n:
            raise ValueError(
                f"Rounds.context must have shape (n, d) with n = {n}; got {self.context.shape}."
            )
        if self.candidate_actions.ndim != 2 or self.candidate_actions.shape[0] != n:
            raise ValueError(
                "Rounds.candidate_actions must have shape (n, K_max) with n = "
                f"{n}; got {self.candidate_actions.shape}."
            )
        if self.num_candidates.shape != (n,):
            raise ValueError(
                f"Rounds.num_candidates must have shape ({n},); got {self.num_candidates.shape}."
            )

    def __len__(self) -> int:
        return int(self.user_id.shape[0])

    @property
    def max_candidates(self) -> int:
        """``K_max``, the padded width of ``candidate_actions``."""
        return int(self.candidate_actions.shape[1])

    @property
    def mask(self) -> np.ndarray:
        """bool (n, K_max): True where a column holds a real candidate."""
        return np.arange(self.max_candidates)[None, :] < self.num_candidates[:, None]

    def candidate_lists(self) -> list[np.ndarray]:
        """The candidate sets as a list of unpadded int64 arrays (slow for large ``n``)."""
        return [row[:k] for row, k in zip(self.candidate_actions, self.num_candidates, strict=True)]


@runtime_checkable
class Policy(Protocol):
    """Maps rounds to probabilities over each round's candidates."""

    def __call__(self, rounds: Rounds) -> np.ndarray:
        """Return float (n, K_max) probabilities, rows summing to 1, zero on padding."""
        ...


@runtime_checkable
class Environment(Protocol):
    """What :func:`run_policy` needs from a simulator's environment."""

    vocabulary: tuple[str, ...]

    def sample_rounds(self, n: int, rng: np.random.Generator) -> Rounds: ...

    def latent_reward(self, rounds: Rounds, actions: np.ndarray) -> np.ndarray: ...

    def feedback(
        self,
        rounds: Rounds,
        actions: np.ndarray,
        rewards: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray: ...


class UniformPolicy:
    """Uniform over each round's candidate set: ``P(a | x) = 1 / K_t``."""

    def __call__(self, rounds: Rounds) -> np.ndarray:
        return rounds.mask / rounds.num_candidates[:, None].astype(np.float64)


class SoftmaxPolicy:
    """``P = (1 - epsilon) * softmax(score / temperature) + epsilon / K_t`` over the candidates.

    ``score_fn(rounds) -> float (n, K_max)`` scores each candidate; padding is ignored. Every
    candidate gets at least ``epsilon / K_t``.
    """

    def __init__(self, score_fn, *, temperature: float = 1.0, epsilon: float = 0.0) -> None:
        if not temperature > 0:
            raise ValueError(f"The 'temperature' must be > 0; got {temperature!r}.")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"The 'epsilon' must be in [0, 1]; got {epsilon!r}.")
        self.score_fn = score_fn
        self.temperature = temperature
        self.epsilon = epsilon

    def __call__(self, rounds: Rounds) -> np.ndarray:
        mask = rounds.mask
        scores = np.asarray(self.score_fn(rounds), dtype=np.float64) / self.temperature
        return mix_with_uniform(masked_softmax(scores, mask), mask, self.epsilon)


def masked_softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` over the True entries of ``mask`` (0 elsewhere)."""
    scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.where(mask, np.exp(scores), 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def mix_with_uniform(probs: np.ndarray, mask: np.ndarray, epsilon: float) -> np.ndarray:
    """``(1 - epsilon) * probs + epsilon * uniform`` over each row's candidates."""
    uniform = mask / mask.sum(axis=1, keepdims=True)
    return (1.0 - epsilon) * probs + epsilon * uniform


# ---------------------------------------------------------------------------------------------
# Traffic helpers


def sample_visit_users(
    n: int, n_users: int, rng: np.random.Generator, *, mean_visit_length: float
) -> np.ndarray:
    """User ids for ``n`` consecutive rounds grouped into visits.

    Visits have geometric lengths with mean ``mean_visit_length`` and a uniformly random user
    each, so every user returns many times and consecutive rounds of a visit form a session.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    p = 1.0 / mean_visit_length
    # Enough visits with overwhelming probability; top up in the rare case it is not.
    expected = int(np.ceil(n * p * 1.2)) + 16
    lengths = rng.geometric(p, size=expected)
    while lengths.sum() < n:
        lengths = np.concatenate([lengths, rng.geometric(p, size=expected)])
    users = rng.integers(0, n_users, size=lengths.shape[0], dtype=np.int64)
    return np.repeat(users, lengths)[:n]


def sample_without_replacement(
    n: int, pool_size: int, k: np.ndarray | int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` candidate sets of sizes ``k`` (int or (n,)) from ``range(pool_size)``.

    Returns int64 (n, max(k)) padded with :data:`PAD_ACTION`; each row's first ``k[i]`` entries
    are distinct, in random order. Vectorised by rejection: rows with a duplicate are redrawn.
    """
    sizes = np.broadcast_to(np.asarray(k, dtype=np.int64), (n,)).copy()
    k_max = int(sizes.max()) if n else 1
    if k_max > pool_size:
        raise ValueError(f"Cannot draw {k_max} distinct candidates from a pool of {pool_size}.")
    out = np.full((n, k_max), PAD_ACTION, dtype=np.int64)
    mask = np.arange(k_max)[None, :] < sizes[:, None]
    todo = np.arange(n)
    while todo.size:
        draws = rng.integers(0, pool_size, size=(todo.size, k_max), dtype=np.int64)
        draws = np.where(mask[todo], draws, PAD_ACTION)
        ordered = np.sort(draws, axis=1)
        duplicate = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD_ACTION)).any(
            axis=1
        )
        good = ~duplicate
        out[todo[good]] = draws[good]
        todo = todo[duplicate]
    return out


def categorical_codes(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from categorical distributions ``probs`` (n, C); int64 (n,).

    Inverse-CDF sampling that never returns a zero-probability column.
    """
    n, width = probs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cdf = np.cumsum(probs, axis=1)
    positive = probs > 0
    last_positive = width - 1 - np.argmax(positive[:, ::-1], axis=1)
    cdf[np.arange(width)[None, :] >= last_positive[:, None]] = 1.0
    u = 1.0 - rng.random(n)  # in (0, 1]
    return (cdf < u[:, None]).sum(axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Running a policy


def _check_policy_output(probs: np.ndarray, rounds: Rounds) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    expected = (len(rounds), rounds.max_candidates)
    if probs.shape != expected:
        raise ValueError(
            f"The policy must return probabilities of shape (n, K_max) = {expected}; "
            f"got {probs.shape}."
        )
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("The policy returned negative or non-finite probabilities.")
    if (probs[~rounds.mask] != 0).any():
        raise ValueError("The policy put probability on padding (columns beyond num_candidates).")
    totals = probs.sum(axis=1)
    bad = np.abs(totals - 1.0) > 1e-4
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"The policy's probabilities must sum to 1 over each round's candidates; "
            f"row {row} sums to {totals[row]!r}."
        )
    return probs / totals[:, None]


def run_policy(
    env: Environment,
    policy: Policy,
    n: int,
    seed: int | Sequence[int],
    *,
    start_event_id: int = 0,
    start_ts: datetime = DEFAULT_START_TS,
    seconds_between_events: float = 10.0,
) -> pa.Table:
    """Play ``policy`` on ``n`` fresh rounds of ``env`` and return the canonical log table.

    Rounds, action draws, feedback and timestamps use independent streams spawned from
    ``seed``, so two policies run with the same seed see the same users and contexts
    (common random numbers).

    Parameters
    ----------
    env : Environment
        The simulator's environment.
    policy : Policy
        ``policy(rounds) -> (n, K_max)`` probabilities over the candidates.
    n : int
        Number of rounds.
    seed : int or sequence of int
        Entropy for :class:`numpy.random.SeedSequence`.
    start_event_id : int
        ``event_id`` of the first row; ids are consecutive.
    start_ts : datetime
        Timestamp of the first row (timezone-aware). Later rows follow exponential gaps of
        mean ``seconds_between_events``, strictly increasing.

    Returns
    -------
    pyarrow.Table
        :func:`offline_rl.schema.schema_with_vocabulary` (``env.vocabulary``) schema, with
        ``action_probs`` and the hidden ``reward`` column.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"The number of rounds 'n' must be an int >= 0; got {n!r}.")
    if start_ts.tzinfo is None:
        raise ValueError(f"The 'start_ts' must be timezone-aware; got {start_ts!r}.")
    n = int(n)
    round_seq, action_seq, feedback_seq, time_seq = np.random.SeedSequence(seed).spawn(4)
    rounds = env.sample_rounds(n, np.random.default_rng(round_seq))
    probs = _check_policy_output(policy(rounds), rounds)
    index = categorical_codes(probs, np.random.default_rng(action_seq))
    rows = np.arange(n)
    actions = rounds.candidate_actions[rows, index]
    propensity = probs[rows, index]
    rewards = np.asarray(env.latent_reward(rounds, actions), dtype=np.float64)
    feedback = env.feedback(rounds, actions, rewards, np.random.default_rng(feedback_seq))
    # Strictly increasing microsecond offsets: 0 for the first row, then exponential gaps.
    gaps = np.random.default_rng(time_seq).exponential(seconds_between_events * 1e6, size=n)
    steps = np.maximum(gaps.astype(np.int64), 1)
    steps[:1] = 0
    offsets = np.cumsum(steps)
    start_us = int(start_ts.timestamp() * 1_000_000)
    return build_log_table(
        event_id=np.arange(start_event_id, start_event_id + n, dtype=np.int64),
        ts_us=start_us + np.asarray(offsets, dtype=np.int64),
        rounds=rounds,
        actions=actions,
        propensity=propensity,
        action_probs=probs,
        feedback=feedback,
        rewards=rewards,
        vocabulary=env.vocabulary,
    )


def _list_array(values: np.ndarray, lengths: np.ndarray, value_type: pa.DataType) -> pa.Array:
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=value_type))


def build_log_table(
    *,
    event_id: np.ndarray,
    ts_us: np.ndarray,
    rounds: Rounds,
    actions: np.ndarray,
    propensity: np.ndarray,
    action_probs: np.ndarray | None,
    feedback: np.ndarray,
    rewards: np.ndarray | None,
    vocabulary: Sequence[str],
) -> pa.Table:
    """Assemble the canonical log table from per-round arrays (padded candidates unpadded)."""
    n = len(rounds)
    mask = rounds.mask
    context = np.ascontiguousarray(rounds.context, dtype=np.float32)
    d = context.shape[1]
    columns = {
        "event_id": pa.array(event_id, type=pa.int64()),
        "ts": pa.array(ts_us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(rounds.user_id, type=pa.int64()),
        "context": _list_array(context.reshape(-1), np.full(n, d, dtype=np.int64), pa.float32()),
        "candidate_actions": _list_array(
            rounds.candidate_actions[mask], rounds.num_candidates, pa.int64()
        ),
        "action": pa.array(actions, type=pa.int64()),
        "propensity": pa.array(propensity, type=pa.float64()),
        "action_probs": (
            _list_array(action_probs[mask], rounds.num_candidates, pa.float64())
            if action_probs is not None
            else pa.nulls(n, type=pa.list_(pa.float64()))
        ),
        "feedback": pa.array(np.asarray(feedback, dtype=object), type=pa.string()),
        HIDDEN_REWARD_COLUMN: (
            pa.array(rewards, type=pa.float64())
            if rewards is not None
            else pa.nulls(n, type=pa.float64())
        ),
    }
    schema = schema_with_vocabulary(vocabulary, LOG_SCHEMA)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def build_actions_table(features: np.ndarray) -> pa.Table:
    """The :data:`offline_rl.schema.ACTIONS_SCHEMA` table for action ids ``0..len(features)-1``."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    return pa.Table.from_arrays(
        [
            pa.array(np.arange(n, dtype=np.int64)),
            _list_array(features.reshape(-1), np.full(n, d, dtype=np.int64), pa.float32()),
        ],
        schema=ACTIONS_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------
# Results


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
    check_int("rows", rows, minimum=0)
    check_int("seed", seed, minimum=0)
    config = config_from_dict(config_class, options)
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


def write_simulation(sim: SimulatedLogs, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``logs.parquet``, ``actions.parquet`` (if any) and ``truth.json`` atomically.

    Returns the written paths by name (``"logs"``, ``"actions"``, ``"truth"``).
    """
    from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"logs": atomic_write_parquet(sim.logs, out / "logs.parquet")}
    if sim.actions is not None:
        written["actions"] = atomic_write_parquet(sim.actions, out / "actions.parquet")
    written["truth"] = atomic_write_text(
        out / "truth.json", json.dumps(to_jsonable(sim.truth), indent=2, sort_keys=True) + "\n"
    )
    return written


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and dataclasses into JSON-able Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# Config validation helpers (messages name the parameter, the value and the rule)


def check_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> None:
    """Raise ValueError unless ``value`` is an int within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"The '{name}' parameter must be an int; got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"The '{name}' parameter must be >= {minimum}; got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"The '{name}' parameter must be <= {maximum}; got {value!r}.")


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a finite real within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"The '{name}' parameter must be a real number; got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"The '{name}' parameter must be finite; got {value!r}.")
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"The '{name}' parameter must be in {interval}; got {value!r}.")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"The '{name}' parameter must be in {interval}; got {value!r}.")


def check_choice(name: str, value: Any, options: Sequence[str]) -> None:
    """Raise ValueError unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(
            f"The '{name}' parameter must be a str among {{{', '.join(map(repr, options))}}}; "
            f"got {value!r}."
        )


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-able dict, with ``schema_version``."""
    return {"schema_version": SIMULATOR_VERSION, **to_jsonable(dataclasses.asdict(config))}


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Inverse of :func:`config_to_dict` (lists become tuples for tuple-typed fields)."""
    data = dict(data)
    data.pop("schema_version", None)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} option(s) {unknown}; valid options: {sorted(names)}."
        )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def standard_normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) without scipy (Abramowitz-Stegun 7.1.26 erf; |error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


# ---------------------------------------------------------------------------------------------
# Three-state latent rewards from a noisy score (production and news simulators)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, overflow-safe."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def three_state_reward(score: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``+1`` where ``score > upper``, ``-1`` where ``score < lower``, else ``0`` (float64)."""
    return (score > upper).astype(np.float64) - (score < lower).astype(np.float64)


def three_state_probabilities(
    mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, noise_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P(r = -1), P(r = 0), P(r = +1))`` when ``score = mean + Logistic(0, noise_scale)``."""
    p_negative = sigmoid((lower - mean) / noise_scale)
    p_positive = 1.0 - sigmoid((upper - mean) / noise_scale)
    return p_negative, 1.0 - p_negative - p_positive, p_positive


def candidate_columns(rounds: Rounds, actions: np.ndarray) -> np.ndarray:
    """Column of each round's ``actions`` inside ``rounds.candidate_actions`` (int64 (n,)).

    Raises ValueError when an action is not among its round's candidates.
    """
    actions = np.asarray(actions, dtype=np.int64)
    hits = (rounds.candidate_actions == actions[:, None]) & rounds.mask
    found = hits.any(axis=1)
    if not found.all():
        row = int(np.flatnonzero(~found)[0])
        raise ValueError(
            f"Action {int(actions[row])} of round {row} is not in its candidate set "
            f"{rounds.candidate_actions[row, : rounds.num_candidates[row]].tolist()}."
        )
    return hits.argmax(axis=1).astype(np.int64)


def draw_signals(
    table: np.ndarray, group: np.ndarray, reward: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Signal codes from ``table[group, reward + 1]`` (a (G, 3, S) array of distributions)."""
    probs = table[np.asarray(group, dtype=np.int64), np.asarray(reward).astype(np.int64) + 1]
    return categorical_codes(probs, rng)

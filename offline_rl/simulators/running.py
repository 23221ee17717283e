"""Play a policy on an environment's fresh traffic and log it in the canonical schema.

:func:`run_policy` returns the canonical log table (:data:`offline_rl.schema.LOG_SCHEMA`,
hidden ``reward`` included), so a learner can check its policy on-policy with exactly the
machinery that wrote the training logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from offline_rl.simulators.rounds import Environment, Policy, Rounds
from offline_rl.simulators.sampling import categorical_codes
from offline_rl.simulators.tables import build_log_table

#: Default first timestamp of simulated logs (UTC).
DEFAULT_START_TS = datetime(2024, 1, 1, tzinfo=UTC)


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

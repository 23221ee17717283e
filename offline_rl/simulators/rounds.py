"""The data model every simulator shares: rounds of traffic, and what a policy and an
environment are.

An *environment* (one per simulator) draws rounds of traffic and answers for them:

* ``env.sample_rounds(n, rng) -> Rounds`` -- who arrives, their context and candidate set;
* ``env.latent_reward(rounds, actions) -> float64 (n,)`` -- the hidden reward of each shown action;
* ``env.feedback(rounds, actions, rewards, rng) -> object (n,)`` -- the observed signal (strings
  from ``env.vocabulary``).

A *policy* is any callable ``policy(rounds) -> float64 (n, K_max)`` giving probabilities over each
round's candidates, zero on padding (:mod:`offline_rl.simulators.policies`).

Candidate sets are stored padded: ``Rounds.candidate_actions`` is an ``(n, K_max)`` int64 array
whose first ``num_candidates[i]`` entries of row ``i`` are the action ids and whose remaining
entries are :data:`PAD_ACTION` (``-1``). Fixed-K simulators simply have ``num_candidates == K``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

#: Padding value in ``Rounds.candidate_actions`` beyond ``num_candidates``.
PAD_ACTION = -1


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

"""Random draws the simulators share: users in visits, candidate sets, categorical codes."""

from __future__ import annotations

import numpy as np

from offline_rl.simulators.rounds import PAD_ACTION


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


def draw_signals(
    table: np.ndarray, group: np.ndarray, reward: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Signal codes from ``table[group, reward + 1]`` (a (G, 3, S) array of distributions)."""
    probs = table[np.asarray(group, dtype=np.int64), np.asarray(reward).astype(np.int64) + 1]
    return categorical_codes(probs, rng)

"""Coverage of the evaluation intervals where the truth is known, in the regimes users meet.

Each :class:`World` is a contextual bandit with a known logging policy, a candidate policy
and known mean rewards, so the candidate's value, the logged value and the relative lift are
known exactly. A world may have *personalised users*: user ``u``'s reward probability for
action ``a`` is ``mu(x, a) * c_u * d_ua`` with ``c_u, d_ua ~ 2 Beta(0.7, 0.7)`` (mean 1,
independent of the context and of each other), so the population value is the one computed
from ``mu`` while one user's events are correlated, as on real logs.

:func:`measure` simulates ``repetitions`` independent data sets at once, computes every
interval (percentile, BCa, delta) from one batched bootstrap, and returns per data set
whether each interval covered the truth and whether the reliability rule passed.

Run ``python -m tests.evaluation.coverage_study`` for the table in docs/evaluation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from offline_rl.evaluation.bootstrap import bootstrap_functionals
from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.design import build_design
from offline_rl.evaluation.evaluate import EvaluationConfig, evaluate_arrays

#: The easy world of test_bootstrap.py: 4 contexts, 4 actions, uniform logging.
EASY_REWARD = np.array(
    [
        [0.10, 0.30, 0.20, 0.05],
        [0.40, 0.10, 0.15, 0.20],
        [0.05, 0.05, 0.50, 0.25],
        [0.20, 0.35, 0.10, 0.30],
    ]
)
EASY_TARGET = np.array(
    [[0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.8, 0.1], [0.2, 0.5, 0.1, 0.2]]
)
UNIFORM4 = np.full((4, 4), 0.25)


def _heavy_policies(shares) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 actions, 5 contexts; the logger shows action ``x`` in context ``x`` with probability
    0.01 and the candidate with probability ``shares[x]`` (weight ``100 shares[x]``), the
    rest spread evenly."""
    k, contexts = 10, 5
    logging = np.full((contexts, k), 0.99 / (k - 1))
    target = np.empty((contexts, k))
    for x in range(contexts):
        logging[x, x] = 0.01
        target[x] = (1.0 - shares[x]) / (k - 1)
        target[x, x] = shares[x]
    reward = np.random.default_rng(2024).uniform(0.05, 0.45, (contexts, k))
    return logging, target, reward


HEAVY_LOGGING, HEAVY_TARGET, HEAVY_REWARD = _heavy_policies([1.0, 1.0, 1.0, 0.1, 0.1])
_, SOFT_TARGET, _ = _heavy_policies([1.0, 0.3, 0.3, 0.1, 0.1])


def _scaled(reward: np.ndarray, logging: np.ndarray, rate: float) -> np.ndarray:
    """``reward`` scaled so that the logged policy's mean reward is ``rate``."""
    return reward * (rate / float(np.mean(np.sum(logging * reward, axis=1))))


@dataclass(frozen=True)
class World:
    """One simulated setting (see the module docstring)."""

    name: str
    logging: np.ndarray
    target: np.ndarray
    mean_reward: np.ndarray
    n_users: int
    events_per_user: int = 1
    personalised: bool = False

    @property
    def n(self) -> int:
        return self.n_users * self.events_per_user

    def truth(self) -> dict[str, float]:
        """True candidate value, logged value and lift (contexts are uniform)."""
        value = float(np.mean(np.sum(self.target * self.mean_reward, axis=1)))
        logged = float(np.mean(np.sum(self.logging * self.mean_reward, axis=1)))
        return {"value": value, "logged": logged, "lift": value / logged - 1}

    def simulate(self, repetitions: int, seed: int) -> dict[str, np.ndarray]:
        """``(repetitions, n)`` arrays: propensity, target probability, reward, user."""
        rng = np.random.default_rng(seed)
        shape = (repetitions, self.n)
        contexts = rng.integers(0, self.logging.shape[0], shape)
        cumulative = np.cumsum(self.logging, axis=1)[contexts]
        actions = np.minimum(
            (rng.random(shape)[..., None] > cumulative).sum(axis=-1), self.logging.shape[1] - 1
        )
        probability = self.mean_reward[contexts, actions]
        users = np.repeat(np.arange(self.n_users), self.events_per_user)
        if self.personalised:
            k = self.logging.shape[1]
            user_factor = 2 * rng.beta(0.7, 0.7, (repetitions, self.n_users))
            action_factor = 2 * rng.beta(0.7, 0.7, (repetitions, self.n_users, k))
            rows = np.arange(repetitions)[:, None]
            probability = (
                probability * user_factor[:, users] * action_factor[rows, users[None, :], actions]
            )
        return {
            "propensity": self.logging[contexts, actions],
            "target": self.target[contexts, actions],
            "reward": (rng.random(shape) < probability).astype(np.float64),
            "users": np.broadcast_to(users, shape),
        }


def worlds() -> dict[str, World]:
    """The settings of the coverage study (docs/evaluation.md, "Coverage")."""
    rare = EASY_REWARD * (0.0075 / EASY_REWARD.mean())
    return {
        "easy": World("easy", UNIFORM4, EASY_TARGET, EASY_REWARD, n_users=800),
        "users20": World(
            "users20", UNIFORM4, EASY_TARGET, EASY_REWARD / 2, 150, 20, personalised=True
        ),
        "users60": World(
            "users60", UNIFORM4, EASY_TARGET, EASY_REWARD / 2, 50, 60, personalised=True
        ),
        "heavy": World("heavy", HEAVY_LOGGING, HEAVY_TARGET, HEAVY_REWARD, n_users=2000),
        "heavy_large": World("heavy_large", HEAVY_LOGGING, HEAVY_TARGET, HEAVY_REWARD, 8000),
        "rare": World("rare", UNIFORM4, EASY_TARGET, rare, n_users=2000),
        "heavy_rare": World(
            "heavy_rare",
            HEAVY_LOGGING,
            HEAVY_TARGET,
            _scaled(HEAVY_REWARD, HEAVY_LOGGING, 0.0075),
            n_users=2000,
        ),
        "soft_rare": World(
            "soft_rare", HEAVY_LOGGING, SOFT_TARGET, _scaled(HEAVY_REWARD, HEAVY_LOGGING, 0.0075), 2000
        ),
        "soft_rare_large": World(
            "soft_rare_large", HEAVY_LOGGING, SOFT_TARGET, _scaled(HEAVY_REWARD, HEAVY_LOGGING, 0.0075), 8000
        ),
        "users60_rare": World(
            "users60_rare", UNIFORM4, EASY_TARGET, _scaled(EASY_REWARD, UNIFORM4, 0.01), 50, 60, personalised=True
        ),
        "small": World("small", UNIFORM4, EASY_TARGET, EASY_REWARD, n_users=100),
    }


#: What is checked: (estimator, quantity) -> key of World.truth().
TARGETS = {
    ("ips", "value"): "value",
    ("snips", "value"): "value",
    ("ips", "lift"): "lift",
    ("snips", "lift"): "lift",
    ("on_policy", "value"): "logged",
}
METHODS = ("percentile", "bca", "delta")


@dataclass(frozen=True)
class Measurement:
    """Per data set results of one world: ``covered[(estimator, quantity, method)]``,
    ``reliable[(estimator, quantity)]`` (the flag :func:`evaluate_arrays` reports) and
    ``effective[(estimator, quantity)]`` (its effective positives), each ``(repetitions,)``."""

    world: str
    resample: str
    repetitions: int
    covered: dict[tuple[str, str, str], np.ndarray]
    reliable: dict[tuple[str, str], np.ndarray]
    effective: dict[tuple[str, str], np.ndarray]

    def coverage(self, estimator: str, quantity: str, method: str, *, reliable_only=False):
        """``(coverage, repetitions it is over)``."""
        covered = self.covered[(estimator, quantity, method)]
        if reliable_only:
            covered = covered[self.reliable[(estimator, quantity)]]
        return (float(covered.mean()) if covered.size else float("nan")), int(covered.size)


def measure(
    world: World,
    *,
    repetitions: int,
    resample: str = "users",
    n_replicates: int = 500,
    seed: int = 0,
) -> Measurement:
    """Simulate ``repetitions`` data sets of ``world`` and check every interval."""
    data = world.simulate(repetitions, seed)
    design = build_design(
        propensity=data["propensity"].ravel(),
        policies={"target": data["target"].ravel()},
        rewards={"r": data["reward"].ravel()},
        estimators=("ips", "snips"),
    )
    stats = design.statistics().reshape(repetitions, world.n, len(design.columns))
    if resample == "users" and world.events_per_user > 1:
        stats = stats.reshape(
            repetitions, world.n_users, world.events_per_user, stats.shape[-1]
        ).sum(axis=2)
    boot = bootstrap_functionals(stats, design.functionals, n_replicates=n_replicates, seed=seed)
    delta = delta_intervals(stats, design.functionals)
    flags = _flags(world, data, resample)
    truth = world.truth()
    covered, reliable, effective = {}, {}, {}
    for index, key in enumerate(design.keys):
        target = TARGETS.get((key.estimator, key.quantity))
        if target is None:
            continue
        value = truth[target]
        for method, intervals in (
            ("percentile", boot.percentile),
            ("bca", boot.bca),
            ("delta", delta.interval),
        ):
            lower, upper = intervals[:, index, 0], intervals[:, index, 1]
            covered[(key.estimator, key.quantity, method)] = (lower <= value) & (value <= upper)
        reliable[(key.estimator, key.quantity)] = flags[(key.estimator, key.quantity)][0]
        effective[(key.estimator, key.quantity)] = flags[(key.estimator, key.quantity)][1]
    return Measurement(world.name, resample, repetitions, covered, reliable, effective)


def _flags(world: World, data, resample: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """The library's own ``reliable`` flag and effective positives for every data set."""
    config = EvaluationConfig(
        estimators=("ips", "snips"), n_replicates=0, interval="delta", resample=resample
    )
    repetitions = data["propensity"].shape[0]
    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for r in range(repetitions):
        result = evaluate_arrays(
            propensity=data["propensity"][r],
            policies={"target": data["target"][r]},
            rewards={"r": data["reward"][r]},
            users=data["users"][r] if resample == "users" else None,
            config=config,
        )
        for row in result.estimates.iter_rows(named=True):
            key = (row["estimator"], row["quantity"])
            flags, counts = out.setdefault(key, (np.zeros(repetitions, bool), np.zeros(repetitions)))
            flags[r], counts[r] = row["reliable"], row["effective_positives"]
    return out


def binomial_tolerance(repetitions: int, nominal: float = 0.95, checks: int = 1) -> float:
    """Allowed distance of a coverage estimate from ``nominal`` over ``repetitions`` data sets.

    ``z`` binomial standard errors, ``sqrt(nominal (1 - nominal) / repetitions)``, with ``z``
    the one-sided 3-sigma level (0.00135) Bonferroni-corrected for the ``checks`` a test
    makes: 3.0 for one check, 4.05 for 20. Without the correction a test of 20 coverages at
    3 SE each would fail by chance several percent of the time.
    """
    z = -float(ndtri(0.00135 / checks))
    return z * math.sqrt(nominal * (1 - nominal) / max(repetitions, 1))


def _table(repetitions: int, seed: int) -> None:  # pragma: no cover - a report
    print(
        f"repetitions {repetitions}, B = 500, seed {seed}; 3 SE of a coverage of 0.95 over "
        f"{repetitions} data sets = {binomial_tolerance(repetitions):.3f}"
    )
    print("| world | unit | estimate | max w | percentile | BCa | delta | reliable | pct / BCa / delta when reliable |")
    print("|---|---|---|---|---|---|---|---|---|")
    for world in worlds().values():
        for resample in ("events", "users") if world.events_per_user > 1 else ("events",):
            result = measure(world, repetitions=repetitions, resample=resample, seed=seed)
            for key in TARGETS:
                cells = [result.coverage(*key, m)[0] for m in METHODS]
                conditional = [result.coverage(*key, m, reliable_only=True)[0] for m in METHODS]
                share = result.reliable[key].mean()
                print(
                    f"| {world.name} | {resample} | {key[0]} {key[1]} | {world.logging.min() and (world.target / world.logging).max():.3g} | "
                    + " | ".join(f"{c:.3f}" for c in cells)
                    + f" | {share:.2f} | "
                    + " / ".join(f"{c:.3f}" for c in conditional)
                    + " |"
                )


if __name__ == "__main__":  # pragma: no cover
    import sys

    _table(int(sys.argv[1]) if len(sys.argv) > 1 else 500, int(sys.argv[2]) if len(sys.argv) > 2 else 1)

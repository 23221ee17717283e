"""Covertype IGL simulation: normal and bizarro users talking in good and bad words.

IGL-P paper, Section 4.1. A supervised-to-bandit transform of the Covertype sample
(:func:`offline_rl.data.datasets.load_covertype`): each round is one example, the 7 classes
are the actions (``Cover_Type`` k -> action ``k - 1``) and the hidden latent reward is
``r = 1[action == label]``. The reward is never shown; instead the round's user (one of
``n_users``, revealed as ``user_id``) says one of ``n_words`` words:

* half the users (chosen at random) are *normal*, the others *bizarro*;
* half the words (chosen at random) are *good*, the others *bad*;
* a normal user says a uniformly random good word when ``r = 1`` and a uniformly random bad
  word when ``r = 0``; a bizarro user does the opposite.

The feedback vocabulary is ``word_000 .. word_{M-1}``. The 15,000 examples are streamed as
successive shuffled passes; users arrive in visits (geometric length, mean
``mean_visit_length``) so each user returns many times.

Context: the 54 raw features as float32 (the default; learners standardise, the sample's
mean and standard deviation are also in ``truth``), or standardised with those statistics
when ``standardize_context`` is true.

Logging: uniform (propensity 1/7) or ``epsilon_greedy`` around a fixed nearest-centroid
linear scorer on standardised features (deliberately imperfect, about 55% accurate) so
propensities vary: ``1 - epsilon + epsilon / 7`` for its choice, ``epsilon / 7`` otherwise.

Environment API (for on-policy checks)::

    env = CovertypeEnvironment(CovertypeConfig(), seed=0)
    table = run_policy(env, policy, n=10_000, seed=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from offline_rl.config import Boolean, Choice, Config, Integer, Optional, Real, Text
from offline_rl.data.datasets import COVERTYPE_N_CLASSES, load_covertype
from offline_rl.simulators.policies import UniformPolicy
from offline_rl.simulators.rounds import Rounds
from offline_rl.simulators.sampling import sample_visit_users
from offline_rl.simulators.simulation import SIMULATOR_VERSION, SimulatedLogs, simulate_round_based

NAME = "covertype"
LOGGING_POLICIES = ("uniform", "epsilon_greedy")


@dataclass(frozen=True, kw_only=True)
class CovertypeConfig(Config):
    """Options of the Covertype simulation."""

    n_users: int = 100
    """N, the number of users (half normal, half bizarro); at least 2."""
    n_words: int = 100
    """M, the number of feedback words (half good, half bad); at least 2."""
    logging: str = "uniform"
    """Logging policy: 'uniform' (1/7 each) or 'epsilon_greedy' (fixed linear scorer)."""
    epsilon: float = 0.3
    """Exploration of the 'epsilon_greedy' logger: each action gets at least epsilon/7."""
    standardize_context: bool = False
    """Standardise the 54 features with the sample mean/std (default: raw values)."""
    mean_visit_length: float = 5.0
    """Mean number of consecutive rounds one user visit lasts (>= 1)."""
    seconds_between_events: float = 10.0
    """Mean gap between consecutive logged events, in seconds (> 0)."""
    path: str | None = None
    """Covertype CSV (a str path, so that the config round-trips through JSON) to use instead
    of the shipped datasets/covertype/covtype_15k.csv.gz."""

    CONSTRAINTS = {
        "n_users": Integer(2),
        "n_words": Integer(2),
        "logging": Choice(LOGGING_POLICIES),
        "epsilon": Real(0.0, 1.0, low_open=True),
        "standardize_context": Boolean(),
        "mean_visit_length": Real(1.0),
        "seconds_between_events": Real(0.0, low_open=True),
        "path": Optional(Text()),
    }


class CovertypeEnvironment:
    """The Covertype IGL environment (users, words and the data set).

    Parameters
    ----------
    config : CovertypeConfig
        Options.
    seed : int
        Draws which users are bizarro and which words are good.
    data : (features, labels), optional
        Pre-loaded :func:`load_covertype` output (else loaded from ``config.path``).

    Attributes
    ----------
    vocabulary : tuple of str
        ``word_000`` ... in word-id order.
    user_is_bizarro : bool (n_users,)
    word_is_good : bool (n_words,)
    good_words, bad_words : int64 arrays of word ids.
    feature_mean, feature_std : float64 (54,)
        Standardisation statistics of the sample (std of constant columns set to 1).
    """

    n_actions = COVERTYPE_N_CLASSES

    def __init__(
        self,
        config: CovertypeConfig | None = None,
        *,
        seed: int = 0,
        data: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.config = config if config is not None else CovertypeConfig()
        features, labels = data if data is not None else load_covertype(self.config.path)
        self.features = np.asarray(features, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.feature_mean = self.features.mean(axis=0, dtype=np.float64)
        std = self.features.std(axis=0, dtype=np.float64)
        self.feature_std = np.where(std > 0, std, 1.0)
        standardized = ((self.features - self.feature_mean) / self.feature_std).astype(np.float32)
        self.contexts = standardized if self.config.standardize_context else self.features

        rng = np.random.default_rng(seed)
        n_users, n_words = self.config.n_users, self.config.n_words
        self.user_is_bizarro = np.zeros(n_users, dtype=bool)
        self.user_is_bizarro[rng.permutation(n_users)[: n_users // 2]] = True
        self.word_is_good = np.zeros(n_words, dtype=bool)
        self.word_is_good[rng.permutation(n_words)[: n_words // 2]] = True
        self.good_words = np.flatnonzero(self.word_is_good).astype(np.int64)
        self.bad_words = np.flatnonzero(~self.word_is_good).astype(np.int64)
        width = max(3, len(str(n_words - 1)))
        self.vocabulary: tuple[str, ...] = tuple(f"word_{i:0{width}d}" for i in range(n_words))
        self._words = np.array(self.vocabulary, dtype=object)

        # Fixed, imperfect linear scorer (nearest class centroid in standardised units).
        centroids = np.stack(
            [
                standardized[self.labels == k].mean(axis=0)
                if (self.labels == k).any()
                else np.zeros(standardized.shape[1], dtype=np.float32)
                for k in range(self.n_actions)
            ]
        ).astype(np.float64)
        self.scorer_weights = centroids
        self.scorer_bias = -0.5 * (centroids**2).sum(axis=1)

    # -- environment API ----------------------------------------------------------------------

    def sample_rounds(self, n: int, rng: np.random.Generator) -> Rounds:
        """``n`` rounds: examples streamed as shuffled passes, users arriving in visits.

        ``hidden`` holds ``label`` (int64, 0..6) and ``row`` (the example's index).
        """
        n_rows = self.labels.shape[0]
        passes = -(-n // n_rows) if n else 0
        rows = (
            np.concatenate([rng.permutation(n_rows) for _ in range(passes)])[:n]
            if passes
            else np.zeros(0, dtype=np.int64)
        ).astype(np.int64)
        users = sample_visit_users(
            n, self.config.n_users, rng, mean_visit_length=self.config.mean_visit_length
        )
        return Rounds(
            user_id=users,
            context=self.contexts[rows],
            candidate_actions=np.broadcast_to(
                np.arange(self.n_actions, dtype=np.int64), (n, self.n_actions)
            ).copy(),
            num_candidates=np.full(n, self.n_actions, dtype=np.int64),
            hidden={"label": self.labels[rows], "row": rows},
        )

    def latent_reward(self, rounds: Rounds, actions: np.ndarray) -> np.ndarray:
        """``r = 1[action == label]`` as float64."""
        return (np.asarray(actions) == rounds.hidden["label"]).astype(np.float64)

    def feedback(
        self,
        rounds: Rounds,
        actions: np.ndarray,
        rewards: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """A uniformly random good word iff (r = 1) xor bizarro, else a random bad word."""
        n = len(rounds)
        says_good = (np.asarray(rewards) > 0) ^ self.user_is_bizarro[rounds.user_id]
        good = self.good_words[rng.integers(0, self.good_words.size, size=n)]
        bad = self.bad_words[rng.integers(0, self.bad_words.size, size=n)]
        return self._words[np.where(says_good, good, bad)]

    # -- helpers ------------------------------------------------------------------------------

    def standardize(self, context: np.ndarray) -> np.ndarray:
        """Context in standardised units, whatever ``standardize_context`` is."""
        if self.config.standardize_context:
            return np.asarray(context, dtype=np.float64)
        return (np.asarray(context, dtype=np.float64) - self.feature_mean) / self.feature_std

    def scorer_scores(self, rounds: Rounds) -> np.ndarray:
        """float64 (n, 7) scores of the fixed linear scorer."""
        return self.standardize(rounds.context) @ self.scorer_weights.T + self.scorer_bias

    def truth(self) -> dict[str, Any]:
        """JSON-able ground truth."""
        return {
            "user_is_bizarro": self.user_is_bizarro.tolist(),
            "bizarro_users": np.flatnonzero(self.user_is_bizarro).tolist(),
            "normal_users": np.flatnonzero(~self.user_is_bizarro).tolist(),
            "word_is_good": self.word_is_good.tolist(),
            "good_words": [self.vocabulary[i] for i in self.good_words],
            "bad_words": [self.vocabulary[i] for i in self.bad_words],
            "n_actions": self.n_actions,
            "actions": "action k is Cover_Type k + 1; reward = 1[action == label]",
            "context_standardized": self.config.standardize_context,
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "n_examples": int(self.labels.shape[0]),
        }


class CovertypeScorerPolicy:
    """Epsilon-greedy around the environment's fixed linear scorer.

    ``P(a | x) = (1 - epsilon) * 1[a = argmax score(x)] + epsilon / 7``.
    """

    def __init__(self, env: CovertypeEnvironment, *, epsilon: float) -> None:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"The 'epsilon' must be in [0, 1]; got {epsilon!r}.")
        self.env = env
        self.epsilon = epsilon

    def __call__(self, rounds: Rounds) -> np.ndarray:
        greedy = self.env.scorer_scores(rounds).argmax(axis=1)
        k = self.env.n_actions
        probs = np.full((len(rounds), k), self.epsilon / k)
        probs[np.arange(len(rounds)), greedy] += 1.0 - self.epsilon
        return probs


def logging_policy(env: CovertypeEnvironment):
    """The logging policy ``env.config.logging`` names."""
    if env.config.logging == "uniform":
        return UniformPolicy()
    return CovertypeScorerPolicy(env, epsilon=env.config.epsilon)


def simulate(*, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """Simulate ``rows`` logged rounds of the Covertype IGL problem.

    The environment (bizarro users, good words) is drawn from ``seed``; the traffic from
    ``(seed, 1)``. ``options`` are :class:`CovertypeConfig` fields.
    """
    return simulate_round_based(
        name=NAME,
        version=SIMULATOR_VERSION,
        config_class=CovertypeConfig,
        environment_class=CovertypeEnvironment,
        logging_policy=logging_policy,
        describe_logging=_describe_logging,
        rows=rows,
        seed=seed,
        options=options,
    )


def _describe_logging(config: CovertypeConfig, env: CovertypeEnvironment) -> dict[str, Any]:
    """The logging policy as recorded in ``truth.json``."""
    return (
        {"kind": "uniform"}
        if config.logging == "uniform"
        else {
            "kind": "epsilon_greedy",
            "epsilon": config.epsilon,
            "scorer": "nearest class centroid on standardised features",
            "weights": env.scorer_weights.tolist(),
            "bias": env.scorer_bias.tolist(),
        }
    )

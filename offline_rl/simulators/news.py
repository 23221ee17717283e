"""Facebook-news-like recommendation: three reader groups with different reaction habits.

IGL-P paper, Section 4.2 and Figure 4. Readers of three outlets (``fox``, ``huffpost``,
``time``; the group is the context, one-hot) are shown one post from a variable candidate set
(``K_t`` uniform in ``min_candidates..max_candidates``, drawn from a pool of ``n_posts``).
Posts have a type (link, video, photo, status, event) and a unit-norm text-embedding-like
vector; the actions table holds ``[type one-hot (5), embedding (embedding_dim)]``.

Latent reward. Group ``g`` has an embedding ``c_g`` and a per-type bias; a round's score of post
``p`` is ``s = 2 c_g . e_p + bias[g, type_p] + Logistic(0, 0.5)`` (noise per round and
candidate); ``r = +1`` if ``s > tau_+[g]``, ``-1`` if ``s < tau_-[g]``, else ``0``, with per-group
thresholds calibrated so that under uniform play ``P(r = +1) = positive_rate`` (12%) and
``P(r = -1) = negative_rate`` (8%) in every group.

Reactions ``P(y | r, group)`` over (none, like, love, haha, wow, sad, angry, comment, share):

========  =========================================  ==========================  ==========================================
group     r = +1                                     r = 0                       r = -1
========  =========================================  ==========================  ==========================================
fox       none .25 like .35 love .05 haha .02         none .90 like .06           none .25 haha .05 sad .05 angry .30
          wow .02 comment .20 share .11               comment .03 share .01       comment .30 share .05
huffpost  none .25 like .30 love .15 haha .15         none .88 like .06           none .25 haha .30 sad .30 angry .08
          wow .02 comment .05 share .08               haha .04 comment .02        comment .07
time      none .20 like .20 love .25 wow .25          none .91 like .07 wow .02   none .75 sad .10 angry .10 comment .05
          comment .03 share .07
========  =========================================  ==========================  ==========================================

``angry`` occurs only when ``r = -1`` (the definitely-negative oracle). A bandit maximising
emoji reactions (love, haha, wow, sad, angry) favours good posts for time readers (P(emoji)
= .50 at r = +1 vs .20 at r = -1) but bad posts for fox (.09 vs .40) and huffpost (.32 vs .68)
readers; one maximising comments favours posts with any nonzero reward for fox readers
(.20 vs .30), raising both good and bad recommendations there. Logging is uniform over the
candidate set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from offline_rl.config import Choice, Config, Integer, Real, Reals, Rule
from offline_rl.simulators.policies import UniformPolicy
from offline_rl.simulators.rewards import three_state_probabilities, three_state_reward
from offline_rl.simulators.rounds import PAD_ACTION, Rounds, candidate_columns
from offline_rl.simulators.sampling import (
    draw_signals,
    sample_visit_users,
    sample_without_replacement,
)
from offline_rl.simulators.simulation import SIMULATOR_VERSION, SimulatedLogs, simulate_round_based
from offline_rl.simulators.tables import build_actions_table

NAME = "news"
LOGGING_POLICIES = ("uniform",)
GROUPS: tuple[str, ...] = ("fox", "huffpost", "time")
POST_TYPES: tuple[str, ...] = ("link", "video", "photo", "status", "event")
POST_TYPE_SHARES = np.array([0.5, 0.15, 0.2, 0.1, 0.05])
VOCABULARY: tuple[str, ...] = (
    "none",
    "like",
    "love",
    "haha",
    "wow",
    "sad",
    "angry",
    "comment",
    "share",
)
EMOJI: tuple[str, ...] = ("love", "haha", "wow", "sad", "angry")

_REACTIONS: dict[str, dict[int, dict[str, float]]] = {
    "fox": {
        1: {
            "none": 0.25,
            "like": 0.35,
            "love": 0.05,
            "haha": 0.02,
            "wow": 0.02,
            "comment": 0.20,
            "share": 0.11,
        },
        0: {"none": 0.90, "like": 0.06, "comment": 0.03, "share": 0.01},
        -1: {
            "none": 0.25,
            "haha": 0.05,
            "sad": 0.05,
            "angry": 0.30,
            "comment": 0.30,
            "share": 0.05,
        },
    },
    "huffpost": {
        1: {
            "none": 0.25,
            "like": 0.30,
            "love": 0.15,
            "haha": 0.15,
            "wow": 0.02,
            "comment": 0.05,
            "share": 0.08,
        },
        0: {"none": 0.88, "like": 0.06, "haha": 0.04, "comment": 0.02},
        -1: {"none": 0.25, "haha": 0.30, "sad": 0.30, "angry": 0.08, "comment": 0.07},
    },
    "time": {
        1: {"none": 0.20, "like": 0.20, "love": 0.25, "wow": 0.25, "comment": 0.03, "share": 0.07},
        0: {"none": 0.91, "like": 0.07, "wow": 0.02},
        -1: {"none": 0.75, "sad": 0.10, "angry": 0.10, "comment": 0.05},
    },
}

#: P(signal | r, group): [group, r + 1, signal] with signals in VOCABULARY order.
REACTION_TABLE = np.array(
    [[[_REACTIONS[g][r].get(s, 0.0) for s in VOCABULARY] for r in (-1, 0, 1)] for g in GROUPS]
)

EMBEDDING_WEIGHT = 2.0
TYPE_BIAS_SCALE = 0.3
NOISE_SCALE = 0.5
CALIBRATION_DRAWS = 100_000


@dataclass(frozen=True, kw_only=True)
class NewsConfig(Config):
    """Options of the news recommendation simulation."""

    n_users: int = 300
    """Number of readers; assigned to the groups by ``group_mix``."""
    group_mix: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    """Shares of fox, huffpost and time readers (sum to 1)."""
    n_posts: int = 300
    """Size of the post pool."""
    min_candidates: int = 5
    """Smallest candidate set (>= 1)."""
    max_candidates: int = 12
    """Largest candidate set (<= n_posts); K_t is uniform in [min, max]."""
    embedding_dim: int = 12
    """Dimension of the post text embeddings and group embeddings."""
    positive_rate: float = 0.12
    """P(r = +1) under uniform play, in every group."""
    negative_rate: float = 0.08
    """P(r = -1) under uniform play, in every group."""
    logging: str = "uniform"
    """Logging policy: 'uniform' over the candidate set."""
    mean_visit_length: float = 5.0
    """Mean number of consecutive rounds one reader visit lasts (>= 1)."""
    seconds_between_events: float = 10.0
    """Mean gap between consecutive logged events, in seconds (> 0)."""

    CONSTRAINTS = {
        "n_users": Integer(1),
        "group_mix": Reals(len(GROUPS), element=Real(0.0, 1.0), total=1.0),
        "n_posts": Integer(2),
        "min_candidates": Integer(1),
        "max_candidates": Integer(1),
        "embedding_dim": Integer(1),
        "positive_rate": Real(0.0, 0.5, low_open=True),
        "negative_rate": Real(0.0, 0.5, low_open=True),
        "logging": Choice(LOGGING_POLICIES),
        "mean_visit_length": Real(1.0),
        "seconds_between_events": Real(0.0, low_open=True),
    }
    RULES = (
        Rule("max_candidates", "an int in [min_candidates, n_posts]",
             lambda c: c.min_candidates <= c.max_candidates <= c.n_posts),
    )


class NewsEnvironment:
    """Reader groups, posts and reaction conventions of the news simulation.

    Attributes
    ----------
    vocabulary : the nine reactions
    user_group : int64 (n_users,)  index into :data:`GROUPS`
    post_type : int64 (n_posts,)  index into :data:`POST_TYPES`
    post_embedding : float64 (n_posts, embedding_dim)  unit norm
    group_embedding : float64 (3, embedding_dim)
    type_bias : float64 (3, 5)
    mean_score : float64 (3, n_posts)
    lower, upper : float64 (3,)  per-group thresholds tau_-, tau_+
    post_features : float32 (n_posts, 5 + embedding_dim)  (the actions table)
    """

    vocabulary = VOCABULARY

    def __init__(self, config: NewsConfig | None = None, *, seed: int = 0) -> None:
        self.config = config = config if config is not None else NewsConfig()
        rng = np.random.default_rng(seed)
        d = config.embedding_dim
        self.user_group = rng.choice(len(GROUPS), size=config.n_users, p=config.group_mix)
        self.post_type = rng.choice(len(POST_TYPES), size=config.n_posts, p=POST_TYPE_SHARES)
        embedding = rng.standard_normal((config.n_posts, d))
        self.post_embedding = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
        self.group_embedding = rng.standard_normal((len(GROUPS), d)) / np.sqrt(d)
        self.type_bias = TYPE_BIAS_SCALE * rng.standard_normal((len(GROUPS), len(POST_TYPES)))
        self.mean_score = (
            EMBEDDING_WEIGHT * self.group_embedding @ self.post_embedding.T
            + self.type_bias[:, self.post_type]
        )
        posts = rng.integers(0, config.n_posts, CALIBRATION_DRAWS)
        noise = rng.logistic(0.0, NOISE_SCALE, (len(GROUPS), CALIBRATION_DRAWS))
        scores = self.mean_score[:, posts] + noise
        self.lower = np.quantile(scores, config.negative_rate, axis=1)
        self.upper = np.quantile(scores, 1.0 - config.positive_rate, axis=1)
        one_hot = np.eye(len(POST_TYPES))[self.post_type]
        self.post_features = np.column_stack([one_hot, self.post_embedding]).astype(np.float32)
        self.group_context = np.eye(len(GROUPS), dtype=np.float32)
        self._words = np.array(VOCABULARY, dtype=object)

    # -- environment API ----------------------------------------------------------------------

    def sample_rounds(self, n: int, rng: np.random.Generator) -> Rounds:
        """``n`` rounds with K_t uniform in [min, max]; ``hidden``: ``group``, ``noise``."""
        config = self.config
        users = sample_visit_users(
            n, config.n_users, rng, mean_visit_length=config.mean_visit_length
        )
        sizes = rng.integers(config.min_candidates, config.max_candidates + 1, size=n)
        drawn = sample_without_replacement(n, config.n_posts, sizes, rng)
        candidates = np.full((n, config.max_candidates), PAD_ACTION, dtype=np.int64)
        candidates[:, : drawn.shape[1]] = drawn
        noise = rng.logistic(0.0, NOISE_SCALE, size=candidates.shape).astype(np.float32)
        groups = self.user_group[users]
        return Rounds(
            user_id=users,
            context=self.group_context[groups],
            candidate_actions=candidates,
            num_candidates=sizes.astype(np.int64),
            hidden={"group": groups, "noise": noise},
        )

    def latent_reward(self, rounds: Rounds, actions: np.ndarray) -> np.ndarray:
        """``r`` in {-1, 0, 1} from the group's noisy score of the post and its thresholds."""
        columns = candidate_columns(rounds, actions)
        groups = rounds.hidden["group"]
        score = (
            self.mean_score[groups, actions]
            + rounds.hidden["noise"][np.arange(len(rounds)), columns]
        )
        return three_state_reward(score, self.lower[groups], self.upper[groups])

    def feedback(
        self,
        rounds: Rounds,
        actions: np.ndarray,
        rewards: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One reaction drawn from :data:`REACTION_TABLE` [group, r]."""
        return self._words[draw_signals(REACTION_TABLE, rounds.hidden["group"], rewards, rng)]

    # -- helpers ------------------------------------------------------------------------------

    def reward_probabilities(self, rounds: Rounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P(r=-1), P(r=0), P(r=+1))`` of every candidate, float64 (n, K_max); 0 on padding."""
        groups = rounds.hidden["group"]
        safe = np.where(rounds.mask, rounds.candidate_actions, 0)
        mean = self.mean_score[groups[:, None], safe]
        probs = three_state_probabilities(
            mean, self.lower[groups][:, None], self.upper[groups][:, None], NOISE_SCALE
        )
        return tuple(np.where(rounds.mask, p, 0.0) for p in probs)

    def actions_table(self):
        """Post features in ACTIONS_SCHEMA: type one-hot (5) then the embedding."""
        return build_actions_table(self.post_features)

    def truth(self) -> dict[str, Any]:
        """JSON-able ground truth."""
        p_neg, _, p_pos = three_state_probabilities(
            self.mean_score, self.lower[:, None], self.upper[:, None], NOISE_SCALE
        )
        return {
            "groups": list(GROUPS),
            "user_group": [GROUPS[g] for g in self.user_group],
            "post_types": list(POST_TYPES),
            "post_type": [POST_TYPES[t] for t in self.post_type],
            "group_embedding": self.group_embedding.tolist(),
            "type_bias": self.type_bias.tolist(),
            "reward_thresholds": {
                g: {"lower": float(lo), "upper": float(hi)}
                for g, lo, hi in zip(GROUPS, self.lower, self.upper, strict=True)
            },
            "score": (
                f"{EMBEDDING_WEIGHT} c_g . e_p + type_bias[g, type_p] + Logistic(0, {NOISE_SCALE})"
            ),
            "p_positive": {g: p_pos[i].tolist() for i, g in enumerate(GROUPS)},
            "p_negative": {g: p_neg[i].tolist() for i, g in enumerate(GROUPS)},
            "reaction_table": {
                g: {str(r): dict(_REACTIONS[g][r]) for r in (-1, 0, 1)} for g in GROUPS
            },
            "definitely_negative": ["angry"],
            "emoji": list(EMOJI),
            "context_features": [f"group_{g}" for g in GROUPS],
            "action_features": [f"type_{t}" for t in POST_TYPES]
            + [f"embedding_{j}" for j in range(self.config.embedding_dim)],
        }


def logging_policy(env: NewsEnvironment):
    """The logging policy ``env.config.logging`` names (uniform over the candidates)."""
    return UniformPolicy()


def simulate(*, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """Simulate ``rows`` logged rounds of the news recommender under uniform logging.

    The environment is drawn from ``seed``; the traffic from ``(seed, 1)``. ``options`` are
    :class:`NewsConfig` fields.
    """
    return simulate_round_based(
        name=NAME,
        version=SIMULATOR_VERSION,
        config_class=NewsConfig,
        environment_class=NewsEnvironment,
        logging_policy=logging_policy,
        describe_logging=_describe_logging,
        rows=rows,
        seed=seed,
        options=options,
    )


def _describe_logging(config: NewsConfig, env: NewsEnvironment) -> dict[str, Any]:
    """The logging policy as recorded in ``truth.json``."""
    return {"kind": "uniform"}

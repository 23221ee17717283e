"""Production-like image recommendation with clicks, likes, dislikes and clickbait.

IGL-P paper, Section 4.3 and Table 1. Each round a user sees ``n_candidates`` images drawn
from a catalogue of ``n_items``; the logged policy shows one and the user answers with one of
``none``, ``click``, ``like`` or ``dislike``.

Latent reward. User ``u`` has a taste vector ``theta_u`` (revealed as the first
``embedding_dim`` context features); item ``i`` has an embedding ``v_i``, a quality ``q_i`` and a
clickbait flag ``b_i``. The round's score of item ``i`` is
``s = theta_u . v_i + 0.8 q_i - 1.5 b_i + Logistic(0, 0.5)`` (the noise is drawn per round and
candidate) and ``r = +1`` if ``s > tau_+``, ``-1`` if ``s < tau_-``, else ``0``; the thresholds are
calibrated at construction so that, under uniform play, ``P(r = +1) = positive_rate`` (10%)
and ``P(r = -1) = negative_rate`` (6%): rewards are rare.

Feedback ``P(y | r, style)`` (rows: none, click, like, dislike) for the three hidden styles:

=======  ======================  ======================  ======================
style    r = +1                  r = 0                   r = -1
=======  ======================  ======================  ======================
clicker  .10 / .75 / .15 / 0     .92 / .07 / .01 / 0     .20 / .55 / 0 / .25
liker    .10 / .25 / .65 / 0     .94 / .03 / .03 / 0     .25 / .35 / 0 / .40
quiet    .50 / .35 / .15 / 0     .98 / .02 / 0 / 0       .50 / .40 / 0 / .10
=======  ======================  ======================  ======================

So ``dislike`` happens only when ``r = -1`` (an exact definitely-negative oracle), bad items
are clicked often (clickbait), and ``none`` mostly means ``r = 0``: a 2-state IGL that takes
every extreme signal as positive is pulled toward ``r = -1`` items and raises dislikes,
while 3-state IGL with ``dislike`` as the negative oracle is not.

Logging. ``production`` (default): a softmax (temperature 0.1) over the hand-engineered
score ``P(click) + 2 P(like) - 2 P(dislike)``, estimated from the population style mix (the
baseline does not know styles) plus fixed per-item estimation noise, mixed with 20% uniform
exploration so every candidate has probability >= 0.2 / K. It knows the latent reward model
up to that noise: a near-oracle. ``uniform``: 1 / K. ``bandit``: what a production team
would actually run: the first ``refresh_rounds`` rounds are logged uniformly, then an
epsilon-greedy ridge-regression bandit (:class:`~offline_rl.simulators.policies.RidgeRewardBandit`,
epsilon = ``exploration``) of the hand-engineered reward ``click + 2 like - 2 dislike`` of the
*logged feedback*, on the published context and item features, is refitted on everything
logged so far every ``refresh_rounds`` rounds (8,640 rounds, one day at the default pace). It
never sees the latent reward, the styles or the feedback table.

Context (float32, ``embedding_dim + 2``): ``theta_u``, an ``activity`` feature weakly
correlated with the style (means +0.5 / 0 / -0.5, unit noise) and a ``tenure`` feature
(pure noise). Actions table features (``embedding_dim + 2``): ``v_i``, a noisy quality
proxy ``q_i + N(0, 0.3^2)`` and a "sensational thumbnail" flag equal to ``b_i`` with 10% flips.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from offline_rl.config import Choice, Config, Integer, Real, Reals, Rule
from offline_rl.simulators.policies import RidgeRewardBandit, SoftmaxPolicy, UniformPolicy
from offline_rl.simulators.rewards import three_state_probabilities, three_state_reward
from offline_rl.simulators.rounds import Rounds, candidate_columns
from offline_rl.simulators.running import DEFAULT_START_TS, run_policy
from offline_rl.simulators.sampling import (
    draw_signals,
    sample_visit_users,
    sample_without_replacement,
)
from offline_rl.simulators.simulation import (
    SIMULATOR_VERSION,
    SimulatedLogs,
    SimulationRun,
    simulate_round_based,
)
from offline_rl.simulators.tables import build_actions_table

NAME = "production"
LOGGING_POLICIES = ("production", "uniform", "bandit")
VOCABULARY: tuple[str, ...] = ("none", "click", "like", "dislike")
STYLES: tuple[str, ...] = ("clicker", "liker", "quiet")

#: P(signal | r, style): [style, r + 1, signal] with signals in VOCABULARY order.
FEEDBACK_TABLE = np.array(
    [
        # r = -1                  r = 0                     r = +1
        [[0.20, 0.55, 0.00, 0.25], [0.92, 0.07, 0.01, 0.00], [0.10, 0.75, 0.15, 0.00]],  # clicker
        [[0.25, 0.35, 0.00, 0.40], [0.94, 0.03, 0.03, 0.00], [0.10, 0.25, 0.65, 0.00]],  # liker
        [[0.50, 0.40, 0.00, 0.10], [0.98, 0.02, 0.00, 0.00], [0.50, 0.35, 0.15, 0.00]],  # quiet
    ]
)

#: Weights of the production baseline's hand-engineered reward.
HAND_ENGINEERED_WEIGHTS = {"none": 0.0, "click": 1.0, "like": 2.0, "dislike": -2.0}

QUALITY_WEIGHT = 0.8
CLICKBAIT_PENALTY = 1.5
NOISE_SCALE = 0.5
ACTIVITY_MEANS = np.array([0.5, 0.0, -0.5])
CALIBRATION_DRAWS = 200_000


@dataclass(frozen=True, kw_only=True)
class ProductionConfig(Config):
    """Options of the production image-recommendation simulation."""

    n_users: int = 1000
    """Number of users (each has a hidden style)."""
    n_items: int = 500
    """Catalogue size."""
    n_candidates: int = 20
    """K, the candidates shown to the policy each round (<= n_items)."""
    embedding_dim: int = 6
    """Dimension of user tastes and item embeddings."""
    style_mix: tuple[float, float, float] = (0.4, 0.3, 0.3)
    """Population shares of the clicker, liker and quiet styles (sum to 1)."""
    clickbait_fraction: float = 0.2
    """Share of catalogue items that are clickbait."""
    positive_rate: float = 0.10
    """P(r = +1) under uniform play (thresholds are calibrated to it)."""
    negative_rate: float = 0.06
    """P(r = -1) under uniform play."""
    logging: str = "production"
    """Logging policy: 'production' (near-oracle hand-engineered softmax), 'uniform', or
    'bandit' (epsilon-greedy ridge bandit of the hand-engineered reward of the logged
    feedback, refitted every refresh_rounds rounds)."""
    temperature: float = 0.1
    """Softmax temperature of the production baseline."""
    exploration: float = 0.2
    """Uniform mixing of the production baseline and of the bandit (its epsilon): each
    candidate gets >= exploration / K."""
    refresh_rounds: int = 8640
    """'bandit' logging: rounds logged uniformly before the first fit, and between refits."""
    ridge: float = 1.0
    """'bandit' logging: L2 penalty of the bandit's ridge regression."""
    estimate_noise: float = 0.1
    """Std of the baseline's fixed per-item error on its hand-engineered score."""
    mean_visit_length: float = 5.0
    """Mean number of consecutive rounds one user visit lasts (>= 1)."""
    seconds_between_events: float = 10.0
    """Mean gap between consecutive logged events, in seconds (> 0)."""

    CONSTRAINTS = {
        "n_users": Integer(1),
        "n_items": Integer(2),
        "n_candidates": Integer(2),
        "embedding_dim": Integer(1),
        "style_mix": Reals(len(STYLES), element=Real(0.0, 1.0), total=1.0),
        "clickbait_fraction": Real(0.0, 1.0),
        "positive_rate": Real(0.0, 0.5, low_open=True),
        "negative_rate": Real(0.0, 0.5, low_open=True),
        "logging": Choice(LOGGING_POLICIES),
        "temperature": Real(0.0, low_open=True),
        "exploration": Real(0.0, 1.0, low_open=True),
        "refresh_rounds": Integer(1),
        "ridge": Real(0.0, low_open=True),
        "estimate_noise": Real(0.0),
        "mean_visit_length": Real(1.0),
        "seconds_between_events": Real(0.0, low_open=True),
    }
    RULES = (
        Rule("n_candidates", "an int <= n_items", lambda c: c.n_candidates <= c.n_items),
    )


class ProductionEnvironment:
    """Users, catalogue and feedback conventions of the production simulation.

    Attributes
    ----------
    vocabulary : ("none", "click", "like", "dislike")
    user_style : int64 (n_users,)  index into :data:`STYLES`
    user_context : float32 (n_users, embedding_dim + 2)
    item_embedding : float64 (n_items, embedding_dim)
    item_quality : float64 (n_items,)
    item_clickbait : bool (n_items,)
    item_features : float32 (n_items, embedding_dim + 2)  (the actions table)
    mean_score : float64 (n_users, n_items)  noiseless score
    lower, upper : float  reward thresholds tau_-, tau_+
    baseline_score : float64 (n_users, n_items)  the production baseline's estimate
    """

    vocabulary = VOCABULARY

    def __init__(self, config: ProductionConfig | None = None, *, seed: int = 0) -> None:
        self.config = config = config if config is not None else ProductionConfig()
        rng = np.random.default_rng(seed)
        d = config.embedding_dim
        self.user_style = rng.choice(len(STYLES), size=config.n_users, p=config.style_mix)
        theta = rng.standard_normal((config.n_users, d))
        activity = ACTIVITY_MEANS[self.user_style] + rng.standard_normal(config.n_users)
        tenure = rng.standard_normal(config.n_users)
        self.user_theta = theta
        self.user_context = np.column_stack([theta, activity, tenure]).astype(np.float32)

        self.item_embedding = rng.standard_normal((config.n_items, d)) / np.sqrt(d)
        self.item_quality = rng.standard_normal(config.n_items)
        self.item_clickbait = rng.random(config.n_items) < config.clickbait_fraction
        quality_proxy = self.item_quality + 0.3 * rng.standard_normal(config.n_items)
        flips = rng.random(config.n_items) < 0.1
        thumbnail = self.item_clickbait ^ flips
        self.item_features = np.column_stack(
            [self.item_embedding, quality_proxy, thumbnail.astype(np.float64)]
        ).astype(np.float32)

        self.mean_score = (
            theta @ self.item_embedding.T
            + QUALITY_WEIGHT * self.item_quality[None, :]
            - CLICKBAIT_PENALTY * self.item_clickbait[None, :]
        )
        # Calibrate tau_-, tau_+ on uniform play (uniform user and item, fresh noise).
        users = rng.integers(0, config.n_users, CALIBRATION_DRAWS)
        items = rng.integers(0, config.n_items, CALIBRATION_DRAWS)
        scores = self.mean_score[users, items] + rng.logistic(0.0, NOISE_SCALE, CALIBRATION_DRAWS)
        self.lower = float(np.quantile(scores, config.negative_rate))
        self.upper = float(np.quantile(scores, 1.0 - config.positive_rate))

        # The production baseline: hand-engineered value of each reward state under the
        # population style mix, applied to P(r | u, i), plus fixed per-item error.
        weights = np.array([HAND_ENGINEERED_WEIGHTS[s] for s in VOCABULARY])
        mix = np.asarray(config.style_mix)
        self.state_value = np.einsum("s,srv,v->r", mix, FEEDBACK_TABLE, weights)
        p_neg, p_zero, p_pos = three_state_probabilities(
            self.mean_score, self.lower, self.upper, NOISE_SCALE
        )
        item_error = config.estimate_noise * rng.standard_normal(config.n_items)
        self.baseline_score = (
            p_neg * self.state_value[0] + p_zero * self.state_value[1] + p_pos * self.state_value[2]
        ) + item_error[None, :]
        self._words = np.array(VOCABULARY, dtype=object)

    # -- environment API ----------------------------------------------------------------------

    def sample_rounds(self, n: int, rng: np.random.Generator) -> Rounds:
        """``n`` rounds; ``hidden`` holds ``style`` (n,) and ``noise`` float32 (n, K)."""
        config = self.config
        users = sample_visit_users(
            n, config.n_users, rng, mean_visit_length=config.mean_visit_length
        )
        candidates = sample_without_replacement(n, config.n_items, config.n_candidates, rng)
        noise = rng.logistic(0.0, NOISE_SCALE, size=candidates.shape).astype(np.float32)
        return Rounds(
            user_id=users,
            context=self.user_context[users],
            candidate_actions=candidates,
            num_candidates=np.full(n, config.n_candidates, dtype=np.int64),
            hidden={"style": self.user_style[users], "noise": noise},
        )

    def latent_reward(self, rounds: Rounds, actions: np.ndarray) -> np.ndarray:
        """``r`` in {-1, 0, 1}: the round's noisy score of the action against the thresholds."""
        columns = candidate_columns(rounds, actions)
        rows = np.arange(len(rounds))
        score = self.mean_score[rounds.user_id, actions] + rounds.hidden["noise"][rows, columns]
        return three_state_reward(score, self.lower, self.upper)

    def feedback(
        self,
        rounds: Rounds,
        actions: np.ndarray,
        rewards: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One of none/click/like/dislike drawn from :data:`FEEDBACK_TABLE` [style, r]."""
        return self._words[draw_signals(FEEDBACK_TABLE, rounds.hidden["style"], rewards, rng)]

    # -- helpers ------------------------------------------------------------------------------

    def reward_probabilities(self, rounds: Rounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P(r=-1), P(r=0), P(r=+1))`` of every candidate, float64 (n, K), before the noise."""
        mean = self.mean_score[rounds.user_id[:, None], rounds.candidate_actions]
        return three_state_probabilities(mean, self.lower, self.upper, NOISE_SCALE)

    def baseline_scores(self, rounds: Rounds) -> np.ndarray:
        """The production baseline's hand-engineered score of every candidate (n, K)."""
        return self.baseline_score[rounds.user_id[:, None], rounds.candidate_actions]

    def actions_table(self):
        """Item features in ACTIONS_SCHEMA."""
        return build_actions_table(self.item_features)

    def truth(self) -> dict[str, Any]:
        """JSON-able ground truth."""
        return {
            "styles": list(STYLES),
            "user_style": [STYLES[s] for s in self.user_style],
            "item_quality": self.item_quality.tolist(),
            "item_clickbait": self.item_clickbait.tolist(),
            "reward_thresholds": {"lower": self.lower, "upper": self.upper},
            "score": (
                f"theta_u . v_i + {QUALITY_WEIGHT} q_i - {CLICKBAIT_PENALTY} b_i "
                f"+ Logistic(0, {NOISE_SCALE})"
            ),
            "feedback_table": {
                style: {
                    str(r): dict(zip(VOCABULARY, FEEDBACK_TABLE[s, r + 1].tolist(), strict=True))
                    for r in (-1, 0, 1)
                }
                for s, style in enumerate(STYLES)
            },
            "definitely_negative": ["dislike"],
            "hand_engineered_weights": dict(HAND_ENGINEERED_WEIGHTS),
            "hand_engineered_state_value": dict(
                zip(("-1", "0", "1"), self.state_value.tolist(), strict=True)
            ),
            "context_features": [f"theta_{j}" for j in range(self.config.embedding_dim)]
            + ["activity", "tenure"],
            "action_features": [f"embedding_{j}" for j in range(self.config.embedding_dim)]
            + ["quality_proxy", "sensational_thumbnail"],
        }


def logging_policy(env: ProductionEnvironment):
    """The logging policy ``env.config.logging`` names.

    For 'bandit' this is the bandit before its first fit (uniform); :func:`simulate` refits
    it on its own logs every ``refresh_rounds`` rounds (:func:`simulate_refreshed_bandit`).
    """
    if env.config.logging == "uniform":
        return UniformPolicy()
    if env.config.logging == "bandit":
        return RidgeRewardBandit(env.item_features, epsilon=env.config.exploration, ridge=env.config.ridge)
    return SoftmaxPolicy(
        env.baseline_scores,
        temperature=env.config.temperature,
        epsilon=env.config.exploration,
    )


def simulate(*, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """Simulate ``rows`` logged rounds of the production image recommender.

    The environment is drawn from ``seed``; the traffic from ``(seed, 1)`` (with 'bandit'
    logging, period ``p`` of ``refresh_rounds`` rounds from ``(seed, 1, p)``). ``options``
    are :class:`ProductionConfig` fields.
    """
    if options.get("logging") == "bandit":
        return simulate_refreshed_bandit(rows=rows, seed=seed, **options)
    return simulate_round_based(
        name=NAME,
        version=SIMULATOR_VERSION,
        config_class=ProductionConfig,
        environment_class=ProductionEnvironment,
        logging_policy=logging_policy,
        describe_logging=_describe_logging,
        rows=rows,
        seed=seed,
        options=options,
    )


def simulate_refreshed_bandit(*, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """``rows`` rounds logged by the 'bandit' policy, refitted every ``refresh_rounds`` rounds.

    Period 0 is logged uniformly; after each period the bandit is refitted on every event
    logged so far (context, logged action, ``click + 2 like - 2 dislike`` of the logged
    feedback) and logs the next period. Event ids and timestamps run on across periods.
    """
    run = SimulationRun(rows=rows, seed=seed)
    config = ProductionConfig.from_dict(options)
    env = ProductionEnvironment(config, seed=run.seed)
    bandit = logging_policy(env)
    weights = {signal: float(value) for signal, value in HAND_ENGINEERED_WEIGHTS.items()}
    tables: list[pa.Table] = []
    contexts: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    start_ts = DEFAULT_START_TS
    for period, first in enumerate(range(0, run.rows, config.refresh_rounds)):
        n = min(config.refresh_rounds, run.rows - first)
        table = run_policy(env, bandit, n, seed=[run.seed, 1, period], start_event_id=first,
                           start_ts=start_ts, seconds_between_events=config.seconds_between_events)
        tables.append(table)
        width = env.user_context.shape[1]
        contexts.append(np.asarray(table.column("context").combine_chunks().flatten()).reshape(n, width))
        actions.append(np.asarray(table.column("action")))
        targets.append(np.array([weights[str(s)] for s in table.column("feedback").to_pylist()]))
        bandit.fit(np.concatenate(contexts), np.concatenate(actions), np.concatenate(targets))
        start_ts = table.column("ts")[-1].as_py() + dt.timedelta(seconds=config.seconds_between_events)
    logs = pa.concat_tables(tables) if tables else run_policy(env, bandit, 0, seed=[run.seed, 1])
    truth = {
        "simulator": NAME,
        "simulator_version": SIMULATOR_VERSION,
        "seed": run.seed,
        "rows": run.rows,
        "config": config.to_dict(),
        "logging_policy": _describe_logging(config, env),
        **env.truth(),
    }
    return SimulatedLogs(logs=logs, actions=env.actions_table(), truth=truth, vocabulary=env.vocabulary,
                         environment=env)


def _describe_logging(config: ProductionConfig, env: ProductionEnvironment) -> dict[str, Any]:
    """The logging policy as recorded in ``truth.json``."""
    if config.logging == "bandit":
        return {
            "kind": "ridge_bandit",
            "reward": "click + 2 like - 2 dislike of the logged feedback",
            "features": "[1, context, item features, context x item features, item one-hot]",
            "exploration": "epsilon-greedy",
            "epsilon": config.exploration,
            "ridge": config.ridge,
            "refresh_rounds": config.refresh_rounds,
            "first_period": "uniform",
        }
    return (
        {"kind": "uniform"}
        if config.logging == "uniform"
        else {
            "kind": "production_baseline",
            "score": "P(click) + 2 P(like) - 2 P(dislike) under the population style mix "
            "+ per-item N(0, estimate_noise^2) error",
            "temperature": config.temperature,
            "exploration": config.exploration,
        }
    )

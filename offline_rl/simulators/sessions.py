"""Sequential user sessions with a hidden per-step satisfaction that differs from clicks.

Built for MTRec (mtrec-paper.txt, sec. 4-5): users see one recommended item per step, click or
skip, and leave when tired or disappointed. The hidden ``reward`` column is each step's
*satisfaction*; learners only see clicks.

World. User ``u`` has a taste ``theta_u`` (d floats, the revealed context); item ``i`` has a
category ``c_i`` (``n_categories``), an embedding ``v_i`` near its category centre, a quality
``q_i`` and a clickbait flag ``b_i``. The true match is ``m = theta_u . v_i + q_i``.

At step ``t`` of a session (0-based):

* click: users are myopic and click when the satisfaction they *expect* beats skipping,
  ``P(click) = sigmoid(click_bias + click_scale (m + bait_attraction b_i
  - satisfaction_fatigue t + skip_cost (1 + t / 10)) - click_fatigue t)``; clickbait looks
  better than it is;
* satisfaction (hidden): if clicked,
  ``m - bait_penalty b_i - satisfaction_fatigue t + N(0, satisfaction_noise^2)``; if skipped,
  ``-skip_cost (1 + t / 10)`` (browsing a useless item costs a little, more when tired);
* engagement: the user continues with
  ``P = sigmoid(continue_bias + continue_satisfaction * satisfaction - leave_fatigue t)``,
  so a disappointing click (clickbait) shortens the session; sessions stop at
  ``max_session_length``.

Clicks therefore reward clickbait, while satisfaction and later engagement punish it, and both
decay along a session (users tire), the pattern of MTRec Fig. 3(a).

Distrust (off by default, ``distrust_weight = 0``). Real users who were let down by a click
click less for a while afterwards. With ``distrust_weight > 0`` a click's *disappointment*,
``max(expected - satisfaction, 0)`` with ``expected = m + bait_attraction b_i
- satisfaction_fatigue t`` (what the user clicked for), accumulates in a per-session distrust
``D_{t+1} = distrust_decay D_t + disappointment``, and the click logit loses
``distrust_weight D_t``. Sessions start at ``D = 0``. It makes later *choices* reveal a
disappointment, which the session exit alone does only through the session's length. It is
off by default because it does not help the reward models (docs/qriql.md, "When r* of the
logged action tracks satisfaction": a worse future after a click lowers ``V(s')`` and so
*raises* ``r* = Q - gamma V(s')``); with the default the logs are unchanged.

Logging: each step draws ``n_candidates`` items uniformly; the logging policy is a softmax
(``temperature``) over a CTR estimate ``sigmoid(click_bias + click_scale (m_hat + bait_attraction b_i))`` with
``m_hat = m + N(0, estimate_noise^2)`` fixed per (user, item), mixed with ``exploration``
uniform. Sessions of one user are separated by more than an hour, so the ``user_trajectories``
job (30 min gap) recovers them. Vocabulary: ``skip`` (negative) and ``click``.

Context (float32, d): ``theta_u``. Actions table features (d + 2): ``v_i``, a noisy quality
proxy ``q_i + N(0, 0.5^2)`` and a "sensational title" flag equal to ``b_i`` with 20% flips.
``truth`` holds the item categories (``item_category``) and the clickbait flags.

:class:`SessionEnvironment` also runs fresh sessions step by step (``start``/``step``) for
policies that choose the next item, e.g. a policy-gradient recommender (MTRec Eq. 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from offline_rl.config import Config, Integer, Real, Rule
from offline_rl.simulators.policies import masked_softmax, mix_with_uniform
from offline_rl.simulators.rewards import sigmoid
from offline_rl.simulators.rounds import Rounds
from offline_rl.simulators.sampling import categorical_codes, sample_without_replacement
from offline_rl.simulators.simulation import SIMULATOR_VERSION, SimulatedLogs, SimulationRun
from offline_rl.simulators.tables import build_actions_table, build_log_table

NAME = "sessions"
VOCABULARY: tuple[str, ...] = ("skip", "click")
START_TS = datetime(2024, 1, 1, tzinfo=UTC)
SESSION_SPACING_SECONDS = 7200.0


@dataclass(frozen=True, kw_only=True)
class SessionsConfig(Config):
    """Options of the sequential-session simulation."""

    n_users: int = 300
    """Number of users."""
    n_items: int = 200
    """Catalogue size."""
    n_categories: int = 10
    """Number of item categories."""
    embedding_dim: int = 4
    """Dimension of user tastes and item embeddings."""
    n_candidates: int = 10
    """Candidates the logging policy chooses from at each step (<= n_items)."""
    clickbait_fraction: float = 0.2
    """Share of catalogue items that are clickbait."""
    click_bias: float = 0.0
    """Intercept of the click logit."""
    click_scale: float = 1.5
    """Weight of the expected satisfaction gain in the click logit."""
    bait_attraction: float = 1.5
    """Extra click logit of clickbait items."""
    bait_penalty: float = 2.5
    """Satisfaction lost on clicking clickbait."""
    click_fatigue: float = 0.0
    """Extra click logit lost per step of the session."""
    satisfaction_fatigue: float = 0.08
    """Satisfaction lost per step of the session."""
    satisfaction_noise: float = 0.3
    """Std of the satisfaction noise."""
    skip_cost: float = 0.1
    """Satisfaction cost of a skipped item (grows by 10% per step)."""
    continue_bias: float = 2.5
    """Intercept of the continuation logit."""
    continue_satisfaction: float = 1.0
    """Weight of the step's satisfaction in the continuation logit."""
    leave_fatigue: float = 0.1
    """Continuation logit lost per step."""
    distrust_weight: float = 0.0
    """Click logit lost per unit of distrust, the disappointment carried from earlier clicks of
    the session (0: users do not lose trust; see the module docstring)."""
    distrust_decay: float = 0.7
    """Share of distrust kept from one step to the next, in [0, 1)."""
    max_session_length: int = 30
    """Longest session (>= 1)."""
    temperature: float = 0.5
    """Softmax temperature of the logging policy."""
    exploration: float = 0.2
    """Uniform mixing of the logging policy."""
    estimate_noise: float = 0.5
    """Std of the logging policy's fixed per (user, item) error on the match."""
    seconds_between_events: float = 10.0
    """Mean gap between steps of a session (> 0)."""

    CONSTRAINTS = {
        "n_users": Integer(1),
        "n_items": Integer(2),
        "n_categories": Integer(1),
        "embedding_dim": Integer(1),
        "n_candidates": Integer(1),
        "clickbait_fraction": Real(0.0, 1.0),
        "click_bias": Real(),
        "click_scale": Real(0.0),
        "bait_attraction": Real(0.0),
        "bait_penalty": Real(0.0),
        "click_fatigue": Real(0.0),
        "satisfaction_fatigue": Real(0.0),
        "satisfaction_noise": Real(0.0),
        "skip_cost": Real(0.0),
        "continue_bias": Real(),
        "continue_satisfaction": Real(0.0),
        "leave_fatigue": Real(0.0),
        "distrust_weight": Real(0.0),
        "distrust_decay": Real(0.0, 1.0, high_open=True),
        "max_session_length": Integer(1, 10_000),
        "temperature": Real(0.0, low_open=True),
        "exploration": Real(0.0, 1.0),
        "estimate_noise": Real(0.0),
        "seconds_between_events": Real(0.0, low_open=True),
    }
    RULES = (
        Rule("n_categories", "an int <= n_items", lambda c: c.n_categories <= c.n_items),
        Rule("n_candidates", "an int <= n_items", lambda c: c.n_candidates <= c.n_items),
    )


@dataclass(frozen=True, eq=False)
class StepOutcome:
    """What users do at one step: ``click`` bool, ``satisfaction`` float64, ``done`` bool,
    ``distrust`` float64 (carried into the next step) and ``click_probability`` float64, the
    users' true ``P(click)`` (ground truth for diagnostics; no learner sees it)."""

    click: np.ndarray
    satisfaction: np.ndarray
    done: np.ndarray
    distrust: np.ndarray
    click_probability: np.ndarray


class SessionEnvironment:
    """Users, catalogue and session dynamics.

    Attributes
    ----------
    vocabulary : ("skip", "click")
    user_theta : float64 (n_users, d)
    item_embedding : float64 (n_items, d)
    item_category : int64 (n_items,)
    item_quality : float64 (n_items,)
    item_clickbait : bool (n_items,)
    match : float64 (n_users, n_items)  ``theta_u . v_i + q_i``
    logging_estimate : float64 (n_users, n_items)  the logging policy's CTR logit
    """

    vocabulary = VOCABULARY

    def __init__(self, config: SessionsConfig | None = None, *, seed: int = 0) -> None:
        self.config = config = config if config is not None else SessionsConfig()
        rng = np.random.default_rng(seed)
        d = config.embedding_dim
        self.user_theta = rng.standard_normal((config.n_users, d))
        centres = rng.standard_normal((config.n_categories, d))
        self.item_category = np.concatenate([
            np.arange(config.n_categories),
            rng.integers(0, config.n_categories, config.n_items - config.n_categories),
        ]).astype(np.int64)
        rng.shuffle(self.item_category)
        self.item_embedding = (
            centres[self.item_category] + 0.5 * rng.standard_normal((config.n_items, d))
        ) / np.sqrt(d)
        self.item_quality = 0.7 * rng.standard_normal(config.n_items)
        self.item_clickbait = rng.random(config.n_items) < config.clickbait_fraction
        self.match = self.user_theta @ self.item_embedding.T + self.item_quality[None, :]
        error = config.estimate_noise * rng.standard_normal(self.match.shape)
        self.logging_estimate = config.click_bias + config.click_scale * (
            self.match + error + config.bait_attraction * self.item_clickbait[None, :]
        )
        quality_proxy = self.item_quality + 0.5 * rng.standard_normal(config.n_items)
        flag = self.item_clickbait ^ (rng.random(config.n_items) < 0.2)
        self.item_features = np.column_stack(
            [self.item_embedding, quality_proxy, flag.astype(np.float64)]
        ).astype(np.float32)

    # -- dynamics -----------------------------------------------------------------------------

    def click_probability(self, users: np.ndarray, items: np.ndarray, steps: np.ndarray,
                          distrust: np.ndarray | float = 0.0) -> np.ndarray:
        """``P(click)`` of showing ``items`` to ``users`` at session positions ``steps``."""
        c = self.config
        expected = (self.match[users, items] + c.bait_attraction * self.item_clickbait[items]
                    - c.satisfaction_fatigue * steps + c.skip_cost * (1 + steps / 10.0))
        return sigmoid(c.click_bias + c.click_scale * expected - c.click_fatigue * steps
                       - c.distrust_weight * distrust)

    def expected_satisfaction(self, users, items, steps, distrust=0.0) -> np.ndarray:
        """``E[satisfaction]`` of showing ``items`` (clicks and skips averaged)."""
        c = self.config
        p = self.click_probability(users, items, steps, distrust)
        clicked = (self.match[users, items] - c.bait_penalty * self.item_clickbait[items]
                   - c.satisfaction_fatigue * steps)
        return p * clicked - (1 - p) * c.skip_cost * (1 + steps / 10.0)

    def step(
        self, users: np.ndarray, items: np.ndarray, steps: np.ndarray, rng: np.random.Generator,
        distrust: np.ndarray | None = None,
    ) -> StepOutcome:
        """Users react to ``items`` at positions ``steps``: click, satisfaction, leave.

        ``distrust`` is each user's distrust at this step (0 at a session's start).
        """
        c = self.config
        users, items = np.asarray(users), np.asarray(items)
        steps = np.asarray(steps, dtype=np.float64)
        n = users.shape[0]
        distrust = np.zeros(n) if distrust is None else np.asarray(distrust, dtype=np.float64)
        p_click = self.click_probability(users, items, steps, distrust)
        click = rng.random(n) < p_click
        noise = c.satisfaction_noise * rng.standard_normal(n)
        expected = (self.match[users, items] + c.bait_attraction * self.item_clickbait[items]
                    - c.satisfaction_fatigue * steps)
        satisfaction = np.where(
            click,
            self.match[users, items] - c.bait_penalty * self.item_clickbait[items]
            - c.satisfaction_fatigue * steps + noise,
            -c.skip_cost * (1 + steps / 10.0),
        )
        disappointment = np.where(click, np.maximum(expected - satisfaction, 0.0), 0.0)
        stay = sigmoid(c.continue_bias + c.continue_satisfaction * satisfaction
                       - c.leave_fatigue * steps)
        done = (rng.random(n) >= stay) | (steps >= c.max_session_length - 1)
        return StepOutcome(click=click, satisfaction=satisfaction, done=done,
                           distrust=c.distrust_decay * distrust + disappointment,
                           click_probability=p_click)

    def candidates(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform candidate sets, int64 (n, n_candidates)."""
        return sample_without_replacement(n, self.config.n_items, self.config.n_candidates, rng)

    def logging_probabilities(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The logging policy over each row's candidates, float64 (n, K)."""
        c = self.config
        scores = sigmoid(self.logging_estimate[users[:, None], candidates]) / c.temperature
        mask = np.ones(candidates.shape, dtype=bool)
        return mix_with_uniform(masked_softmax(scores, mask), mask, c.exploration)

    def actions_table(self):
        """Item features in ACTIONS_SCHEMA."""
        return build_actions_table(self.item_features)

    def truth(self) -> dict[str, Any]:
        """JSON-able ground truth."""
        c = self.config
        return {
            "item_category": self.item_category.tolist(),
            "item_quality": self.item_quality.tolist(),
            "item_clickbait": self.item_clickbait.tolist(),
            "click": (
                f"sigmoid({c.click_bias} + {c.click_scale} (m + {c.bait_attraction} b - "
                f"{c.satisfaction_fatigue} t + {c.skip_cost} (1 + t/10)) - {c.click_fatigue} t)"
            ),
            "satisfaction": (
                f"click: m - {c.bait_penalty} b - {c.satisfaction_fatigue} t + "
                f"N(0, {c.satisfaction_noise}^2); skip: -{c.skip_cost} (1 + t/10)"
            ),
            **({"distrust": (
                f"click logit - {c.distrust_weight} D_t; D_(t+1) = {c.distrust_decay} D_t + "
                "max(m + bait_attraction b - satisfaction_fatigue t - satisfaction, 0) if clicked"
            )} if c.distrust_weight > 0 else {}),
            "continue": (
                f"sigmoid({c.continue_bias} + {c.continue_satisfaction} satisfaction - "
                f"{c.leave_fatigue} t)"
            ),
            "match": "m = theta_u . v_i + q_i",
            "context_features": [f"theta_{j}" for j in range(c.embedding_dim)],
        }


def run_sessions(
    env: SessionEnvironment,
    rows: int,
    rng: np.random.Generator,
    *,
    choose=None,
) -> dict[str, np.ndarray]:
    """Play sessions until ``rows`` steps exist (the last session may be cut).

    ``choose(users, candidates, steps, rng) -> (column index (n,), probabilities (n, K))``
    picks the shown item; the logging policy by default. Returns per-step arrays in session
    order: ``session``, ``user``, ``step``, ``candidates``, ``index``, ``item``, ``propensity``,
    ``probs``, ``click``, ``satisfaction``, ``done``, ``click_probability`` (the users' true
    ``P(click)``).
    """
    c = env.config
    if choose is None:
        def choose(users, candidates, steps, rng):
            probs = env.logging_probabilities(users, candidates)
            return categorical_codes(probs, rng), probs

    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "session", "user", "step", "candidates", "index", "item", "propensity", "probs",
        "click", "satisfaction", "done", "click_probability")}
    total, next_session = 0, 0
    batch = max(16, int(rows / 5) + 1)
    while total < rows:
        users = rng.integers(0, c.n_users, batch)
        sessions = next_session + np.arange(batch)
        next_session += batch
        alive = np.ones(batch, dtype=bool)
        distrust = np.zeros(batch)
        for t in range(c.max_session_length):
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            candidates = env.candidates(idx.size, rng)
            steps = np.full(idx.size, t, dtype=np.int64)
            column, probs = choose(users[idx], candidates, steps, rng)
            items = candidates[np.arange(idx.size), column]
            outcome = env.step(users[idx], items, steps, rng, distrust[idx])
            distrust[idx] = outcome.distrust
            for key, value in (("session", sessions[idx]), ("user", users[idx]), ("step", steps),
                               ("candidates", candidates), ("index", column), ("item", items),
                               ("propensity", probs[np.arange(idx.size), column]),
                               ("probs", probs), ("click", outcome.click),
                               ("satisfaction", outcome.satisfaction), ("done", outcome.done),
                               ("click_probability", outcome.click_probability)):
                parts[key].append(value)
            alive[idx[outcome.done]] = False
        total = sum(p.shape[0] for p in parts["user"])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((out["step"], out["session"]))
    out = {k: v[order][:rows] for k, v in out.items()}
    if rows:
        out["done"][-1] = True
    return out


def logs_from_steps(env: SessionEnvironment, steps: dict[str, np.ndarray], rng, *,
                    start_event_id: int = 0):
    """The canonical log table of :func:`run_sessions`' output."""
    c = env.config
    n = steps["user"].shape[0]
    gaps = np.maximum(rng.exponential(c.seconds_between_events * 1e6, n).astype(np.int64), 1)
    session_start = (steps["session"].astype(np.int64) * int(SESSION_SPACING_SECONDS * 1e6))
    within = np.zeros(n, dtype=np.int64)
    if n:
        first = np.r_[True, steps["session"][1:] != steps["session"][:-1]]
        cumulative = np.cumsum(gaps)
        base = np.maximum.accumulate(np.where(first, cumulative, 0))
        within = cumulative - base
    ts = int(START_TS.timestamp() * 1e6) + session_start + within
    rounds = Rounds(
        user_id=steps["user"].astype(np.int64),
        context=env.user_theta[steps["user"]].astype(np.float32),
        candidate_actions=steps["candidates"],
        num_candidates=np.full(n, c.n_candidates, dtype=np.int64),
    )
    feedback = np.where(steps["click"], "click", "skip").astype(object)
    return build_log_table(
        event_id=np.arange(start_event_id, start_event_id + n, dtype=np.int64),
        ts_us=ts,
        rounds=rounds,
        actions=steps["item"],
        propensity=steps["propensity"],
        action_probs=steps["probs"],
        feedback=feedback,
        rewards=steps["satisfaction"],
        vocabulary=VOCABULARY,
    )


def logging_policy(env: SessionEnvironment):
    """The logging policy as a :class:`~offline_rl.simulators.Policy` over rounds."""

    def policy(rounds: Rounds) -> np.ndarray:
        return env.logging_probabilities(rounds.user_id, rounds.candidate_actions)

    return policy


def simulate(*, rows: int, seed: int, **options: Any) -> SimulatedLogs:
    """Simulate ``rows`` logged steps of sequential sessions.

    The environment is drawn from ``seed``, the sessions from ``(seed, 1)``; ``options`` are
    :class:`SessionsConfig` fields. The hidden ``reward`` column is the step's satisfaction.
    """
    run = SimulationRun(rows=rows, seed=seed)
    rows, seed = run.rows, run.seed
    config = SessionsConfig.from_dict(options)
    env = SessionEnvironment(config, seed=seed)
    rng = np.random.default_rng([seed, 1])
    steps = run_sessions(env, rows, rng)
    logs = logs_from_steps(env, steps, rng)
    truth = {
        "simulator": NAME,
        "simulator_version": SIMULATOR_VERSION,
        "seed": seed,
        "rows": rows,
        "config": config.to_dict(),
        "hidden_reward": "per-step satisfaction",
        **env.truth(),
    }
    return SimulatedLogs(logs=logs, actions=env.actions_table(), truth=truth,
                         vocabulary=VOCABULARY, environment=env)

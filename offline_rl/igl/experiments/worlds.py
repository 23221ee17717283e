"""Production-like worlds for the experiments: the shipped simulator and perturbations of it.

The production experiment must not be tuned to one simulator. A :class:`ProductionWorld`
names a world by the simulator's config options (``offline_rl.simulators.production``:
style mix, catalogue size, candidate-set size, clickbait fraction, ...) plus, optionally, a
different feedback table P(y | r, style) than the shipped
:data:`~offline_rl.simulators.production.FEEDBACK_TABLE`, and a seed. The shipped simulator's
defaults are never changed: a world with another table builds a :class:`TableProductionEnvironment`,
a subclass that draws its feedback (and values its logging baseline) from that table.

:func:`expected_rates` scores a policy on fresh rounds *in expectation*: for every round it
sums, over the candidates, the policy's probability times P(r | user, item) (the score's
logistic noise integrated out) times P(y | r, style). Only the draw of users and candidate
sets is left random, so two policies compared on the same rounds differ by far less noise
than sampled outcomes give (a dislike is a ~0.2% event: 30,000 sampled rounds see ~60).
This reads the simulator's truth and is for scoring only.

:data:`PERTURBED_WORLDS` is the family the production claims are also checked on (seeds >= 100,
none of them the world the experiment's defaults were written for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offline_rl.simulators import run_policy
from offline_rl.simulators.policies import UniformPolicy
from offline_rl.simulators.production import (
    FEEDBACK_TABLE,
    HAND_ENGINEERED_WEIGHTS,
    VOCABULARY,
    ProductionConfig,
    ProductionEnvironment,
)
from offline_rl.simulators.sampling import draw_signals

#: Signal columns of a production feedback table.
SIGNALS = {name: i for i, name in enumerate(VOCABULARY)}


def check_feedback_table(table: np.ndarray) -> np.ndarray:
    """A (3 styles, 3 rewards, 4 signals) table of distributions, ``dislike`` only at r = -1."""
    table = np.asarray(table, dtype=np.float64)
    if table.shape != FEEDBACK_TABLE.shape:
        raise ValueError(
            f"Expected `feedback_table.shape == {FEEDBACK_TABLE.shape}`, but found {table.shape}."
        )
    if (table < 0).any() or not np.allclose(table.sum(axis=-1), 1.0):
        raise ValueError("Every row of the feedback table must be a distribution over signals.")
    if (table[:, 1:, SIGNALS["dislike"]] > 0).any():
        raise ValueError("'dislike' must occur only when r = -1 (it is the IGL-P(3) oracle).")
    return table


class TableProductionEnvironment(ProductionEnvironment):
    """:class:`ProductionEnvironment` whose feedback is drawn from ``feedback_table``.

    Everything else (users, catalogue, scores, thresholds, the random draws) is the parent's,
    so the same seed gives the same users, items and rewards as the shipped simulator.
    """

    def __init__(self, config: ProductionConfig | None = None, *, seed: int = 0,
                 feedback_table: np.ndarray = FEEDBACK_TABLE) -> None:
        super().__init__(config, seed=seed)
        self.feedback_table = check_feedback_table(feedback_table)
        # the logging baseline values each reward state under the world's own table
        weights = np.array([HAND_ENGINEERED_WEIGHTS[s] for s in VOCABULARY])
        mix = np.asarray(self.config.style_mix)
        old_value = self.state_value
        self.state_value = np.einsum("s,srv,v->r", mix, self.feedback_table, weights)
        self.baseline_score = self.baseline_score + sum(
            p * (new - old)
            for p, new, old in zip(self._reward_probabilities_all(), self.state_value, old_value,
                                   strict=True)
        )

    def _reward_probabilities_all(self):
        from offline_rl.simulators.production import NOISE_SCALE
        from offline_rl.simulators.rewards import three_state_probabilities

        return three_state_probabilities(self.mean_score, self.lower, self.upper, NOISE_SCALE)

    def feedback(self, rounds, actions, rewards, rng):
        return self._words[draw_signals(self.feedback_table, rounds.hidden["style"], rewards, rng)]

    def truth(self) -> dict[str, Any]:
        truth = super().truth()
        truth["feedback_table"] = self.feedback_table.tolist()
        return truth


def feedback_table_of(env: ProductionEnvironment) -> np.ndarray:
    """The table ``env`` draws its feedback from."""
    return getattr(env, "feedback_table", FEEDBACK_TABLE)


@dataclass(frozen=True)
class ProductionWorld:
    """A production-like world: simulator options, an optional feedback table, a seed."""

    name: str
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    feedback_table: tuple | None = None
    """Nested (style, r + 1, signal) probabilities; None = the shipped table."""

    def environment(self) -> ProductionEnvironment:
        config = ProductionConfig.from_dict({"logging": "uniform", **self.options})
        if self.feedback_table is None:
            return ProductionEnvironment(config, seed=self.seed)
        return TableProductionEnvironment(config, seed=self.seed,
                                          feedback_table=np.asarray(self.feedback_table))

    def logs(self, env: ProductionEnvironment, rows: int):
        """Uniform exploration logs (``simulate_logs``'s traffic stream ``(seed, 1)``)."""
        return run_policy(env, UniformPolicy(), rows, seed=[self.seed, 1],
                          seconds_between_events=env.config.seconds_between_events)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.options.items() if k != "logging"]
        if self.feedback_table is not None:
            parts.append("feedback table changed")
        return ", ".join(parts) or "shipped simulator"


def with_table(**changes: dict[str, dict[int, dict[str, float]]]) -> tuple:
    """The shipped feedback table with ``changes[style][r] = {signal: p}`` rows replaced."""
    from offline_rl.simulators.production import STYLES

    table = FEEDBACK_TABLE.copy()
    for style, rows in changes.items():
        s = STYLES.index(style)
        for r, row in rows.items():
            table[s, r + 1] = [row.get(signal, 0.0) for signal in VOCABULARY]
    return tuple(map(tuple, map(lambda m: map(tuple, m), table)))


def _nested(table: np.ndarray) -> tuple:
    return tuple(tuple(tuple(float(v) for v in row) for row in block) for block in table)


#: The shipped simulator at the experiment's catalogue size (for the one-option ablations).
EXPERIMENT_OPTIONS = {"n_items": 100, "n_candidates": 10}

#: Equal dislike propensity (0.25) in every style, the other signals' mass kept where it was
#: (liker: 0.15 of dislike moves to none; quiet: 0.15 of none moves to dislike).
EQUAL_PROPENSITY_TABLE = with_table(
    liker={-1: {"none": 0.40, "click": 0.35, "dislike": 0.25}},
    quiet={-1: {"none": 0.35, "click": 0.40, "dislike": 0.25}},
)
#: No clicks on r = -1 items (they become "none"): bad items are not clickbait any more.
NO_BAD_CLICKS_TABLE = with_table(
    clicker={-1: {"none": 0.75, "dislike": 0.25}},
    liker={-1: {"none": 0.60, "dislike": 0.40}},
    quiet={-1: {"none": 0.90, "dislike": 0.10}},
)


def ablation_worlds(seed: int) -> list[ProductionWorld]:
    """The shipped world and one-option changes of it (same seed, same users and items)."""
    return [
        ProductionWorld("shipped", seed, dict(EXPERIMENT_OPTIONS)),
        ProductionWorld("equal dislike propensity", seed, dict(EXPERIMENT_OPTIONS),
                        EQUAL_PROPENSITY_TABLE),
        ProductionWorld("no clickbait items", seed,
                        {**EXPERIMENT_OPTIONS, "clickbait_fraction": 0.0}),
        ProductionWorld("no clicks on bad items", seed, dict(EXPERIMENT_OPTIONS),
                        NO_BAD_CLICKS_TABLE),
    ]


#: Feedback conventions not in the shipped simulator (a different world, not a tweak of it):
#: heavy clickers who rarely dislike, likers who dislike often, quiet users who click bad
#: items as often as good ones.
OTHER_TABLE = _nested(np.array(
    [
        [[0.15, 0.65, 0.00, 0.20], [0.90, 0.09, 0.01, 0.00], [0.05, 0.80, 0.15, 0.00]],
        [[0.30, 0.20, 0.00, 0.50], [0.93, 0.03, 0.04, 0.00], [0.15, 0.20, 0.65, 0.00]],
        [[0.60, 0.35, 0.00, 0.05], [0.97, 0.03, 0.00, 0.00], [0.55, 0.35, 0.10, 0.00]],
    ]
))

#: Perturbed production worlds (seeds >= 100): other style mixes, catalogue and candidate-set
#: sizes, clickbait fractions, reward rates and feedback tables.
PERTURBED_WORLDS: tuple[ProductionWorld, ...] = (
    ProductionWorld("liker-heavy mix", 100,
                    {"n_items": 100, "n_candidates": 10, "style_mix": (0.2, 0.6, 0.2)}),
    ProductionWorld("quiet-heavy mix", 101,
                    {"n_items": 100, "n_candidates": 10, "style_mix": (0.3, 0.1, 0.6)}),
    ProductionWorld("more clickbait", 102,
                    {"n_items": 100, "n_candidates": 10, "clickbait_fraction": 0.4}),
    ProductionWorld("bigger catalogue", 103,
                    {"n_items": 200, "n_candidates": 15, "n_users": 1500}),
    ProductionWorld("other feedback table", 104, {"n_items": 100, "n_candidates": 10},
                    OTHER_TABLE),
    ProductionWorld("rarer rewards", 105,
                    {"n_items": 100, "n_candidates": 10, "positive_rate": 0.06,
                     "negative_rate": 0.04}),
)


def expected_rates(env: ProductionEnvironment, rounds, probs: np.ndarray) -> dict[str, float]:
    """Expected rates of r = +1, r = -1 and each signal when ``probs`` plays ``rounds``.

    ``probs`` is (n, K) over the rounds' candidates. Exact given the rounds: the score
    noise and the feedback draw are integrated out (simulator truth; scoring only).
    """
    p_neg, p_zero, p_pos = env.reward_probabilities(rounds)
    k = p_neg.shape[1]
    probs = np.asarray(probs, dtype=np.float64)[:, :k]
    table = feedback_table_of(env)[rounds.hidden["style"]]  # (n, 3, signals)
    states = np.stack([p_neg, p_zero, p_pos], axis=-1)  # (n, K, 3)
    signal = np.einsum("nkr,nrv->nkv", states, table)  # (n, K, signals)
    out = {
        "positive_rate": float((probs * p_pos).sum(axis=1).mean()),
        "negative_rate": float((probs * p_neg).sum(axis=1).mean()),
    }
    for name, column in (("clicks", "click"), ("likes", "like"), ("dislikes", "dislike")):
        out[f"{name}_rate"] = float((probs * signal[..., SIGNALS[column]]).sum(axis=1).mean())
    return out


def fresh_rounds(env: ProductionEnvironment, n: int, seed: int):
    """``n`` fresh rounds from the stream ``(seed, 2)`` (the experiments' on-policy stream)."""
    round_seq = np.random.SeedSequence([seed, 2]).spawn(4)[0]
    return env.sample_rounds(n, np.random.default_rng(round_seq))

"""News recommendation fairness (IGL-P paper, Section 4.2, Fig. 4).

Simulated uniform logs of three reader groups (``fox``, ``huffpost``, ``time``) reacting to
posts with like / love / haha / wow / sad / angry / comment / share / none
(``offline_rl.simulators.news``; variable candidate sets, post features). Policies of the
same class are fitted off-policy on the logs:

* IGL-P(3) with ``angry`` as the definitely-negative oracle, as the learner ships it (alpha
  estimated from the logs, ``IGL-P(3) a=est``) and at every fixed alpha of ``alphas`` (the
  negative labelling propensity is a hyperparameter the paper does not report, and the
  reward this experiment scores cannot choose it: the result is also reported for each of
  0.1, 0.25, 0.5 and 1; the fixed-alpha policies share the estimated model's out-of-fold
  decoding, :func:`~offline_rl.igl.experiments._common.fit_alpha_sensitivity`);
* CB-emoji: reward = any emoji reaction (love, haha, wow, sad, angry);
* CB-comment: reward = a comment.

Each is then run on the same fresh simulated rounds and scored, per reader group, by the
fraction of recommendations whose hidden latent reward is positive and the fraction that is
negative -- in expectation over the score noise (``NewsEnvironment.reward_probabilities``:
the policy's probabilities times P(r = +-1 | post, group), averaged over the group's rounds;
simulator truth, scoring only), with the standard error over rounds. Fairness is reported
two ways: the *spread* across groups (max - min) and the *worst-served group* (the lowest
positive fraction and the highest negative fraction over groups; the paper's point is that
no reader group gets fewer good and more bad recommendations).

Settings: the learner's defaults (chosen by held-out IK likelihood, docs/igl.md); the first
version's 4-D embeddings, 32-wide MLP, 16-D actions and fixed 25 IK epochs had no rationale
and are gone.

Claims checked per seed and alpha (``NewsResult.claims``):

* ``smaller spread``: IGL-P(3)'s spread is below both CBs', for positive and for negative;
* ``worst-served group better off``: IGL-P(3)'s lowest positive fraction is above both CBs'
  lowest, and its highest negative fraction below both CBs' highest;
* ``best mean``: IGL-P(3)'s mean positive fraction over groups is above both CBs', its mean
  negative fraction below both CBs'.

Writes ``news_seed{S}.png`` (two bar charts like Fig. 4, IGL-P(3) at ``figure_alpha``),
``news_seed{S}.parquet`` (per group), ``news_seed{S}_fairness.parquet`` (spread, worst
group, mean) and ``news_seed{S}_claims.parquet``; :meth:`NewsResult.summary` is the tables
as text (logged at INFO, failed claims also at WARNING; the CLI prints it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl.data.atomic import atomic_path, atomic_write_parquet
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import ik_training_set
from offline_rl.igl.bandit import RewardBandit
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.experiments._common import (
    alpha_of_name,
    claims_by_seed,
    failure_line,
    fit_alpha_sensitivity,
    format_table,
    log_result,
    min_median_max,
    rounds_frame,
    three_states_name,
)
from offline_rl.simulators import simulate_logs
from offline_rl.simulators.news import EMOJI, GROUPS

logger = logging.getLogger(__name__)

ROWS = 60_000
FRESH_ROWS = 30_000
SEEDS = (0, 1, 2, 3, 4)
ALPHAS = (0.1, 0.25, 0.5, 1.0)
BASELINES = ("CB-emoji", "CB-comment")


three_states = three_states_name


def news_config(seed: int, *, alpha: float | None = None, **overrides) -> IGLPConfig:
    """IGL-P(3) with the ``angry`` oracle at the learner's defaults (module docstring)."""
    params: dict[str, Any] = dict(states=3, negative_signals=("angry",), alpha=alpha, seed=seed)
    params.update(overrides)
    return IGLPConfig(**params)


@dataclass
class NewsResult:
    """One seed: per-group fractions, fairness summaries, claims, where the files went."""

    seed: int
    table: pl.DataFrame
    fairness: pl.DataFrame
    figure: Path
    table_path: Path
    claims: pl.DataFrame = field(default_factory=pl.DataFrame)
    models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def failures(self) -> list[str]:
        if self.claims.is_empty():
            return []
        return [f"{row['claim']} ({row['algorithm']})"
                for row in self.claims.filter(~pl.col("passed")).iter_rows(named=True)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """The per-group table, the fairness table and the claims as text, then failures."""
        text = "\n".join([
            format_table(f"News: fraction of recommendations per reader group (seed {self.seed}, "
                         "fresh traffic, in expectation)", self.table.drop("seed")),
            format_table("Fairness across groups", self.fairness.drop("seed")),
            format_table("Claims", self.claims.select("claim", "algorithm", "passed", "detail")),
        ])
        return f"{text}\n{failure_line(self.failures)}" if self.failures else text


def _policy_probabilities(model, frame: pl.DataFrame, width: int) -> np.ndarray:
    probs = model.predict_proba(frame)
    out = np.zeros((frame.height, width))
    out[:, : probs.shape[1]] = probs
    return out


def group_fractions(env, rounds, probs: np.ndarray) -> list[dict[str, Any]]:
    """Per reader group: the expected fraction of recommendations with r = +1 and r = -1
    when ``probs`` plays ``rounds`` (score noise integrated out), and their standard errors
    over the group's rounds."""
    p_neg, _, p_pos = env.reward_probabilities(rounds)
    pos = (probs * p_pos).sum(axis=1)
    neg = (probs * p_neg).sum(axis=1)
    group = rounds.hidden["group"]
    rows = []
    for g, name in enumerate(GROUPS):
        members = group == g
        n = int(members.sum())
        rows.append({
            "group": name,
            "rounds": n,
            "positive_fraction": float(pos[members].mean()),
            "positive_se": float(pos[members].std(ddof=1) / np.sqrt(n)),
            "negative_fraction": float(neg[members].mean()),
            "negative_se": float(neg[members].std(ddof=1) / np.sqrt(n)),
        })
    return rows


def fairness_table(table: pl.DataFrame) -> pl.DataFrame:
    """Per algorithm: spread (max - min over groups), worst group's value and name, mean."""
    def worst(column: str, highest: bool) -> list[pl.Expr]:
        pick = pl.col(column).arg_max() if highest else pl.col(column).arg_min()
        stem = column.replace("_fraction", "")
        return [
            (pl.col(column).max() if highest else pl.col(column).min()).alias(f"worst_{stem}"),
            pl.col("group").get(pick).alias(f"worst_{stem}_group"),
        ]

    return table.group_by("seed", "algorithm", maintain_order=True).agg(
        (pl.col("positive_fraction").max() - pl.col("positive_fraction").min())
        .alias("positive_spread"),
        (pl.col("negative_fraction").max() - pl.col("negative_fraction").min())
        .alias("negative_spread"),
        *worst("positive_fraction", highest=False),
        *worst("negative_fraction", highest=True),
        pl.col("positive_fraction").mean().alias("positive_mean"),
        pl.col("negative_fraction").mean().alias("negative_mean"),
    )


def _compare(igl: dict, cbs: list[dict], columns: list[tuple[str, bool]]) -> tuple[bool, str]:
    """Whether ``igl`` beats every CB on every (column, lower_is_better), and the numbers."""
    ok, parts = True, []
    for column, lower_is_better in columns:
        for cb in cbs:
            ok &= bool(igl[column] < cb[column] if lower_is_better else igl[column] > cb[column])
        parts.append(f"{column} {igl[column]:.3f} vs " + ", ".join(
            f"{cb['algorithm']} {cb[column]:.3f}" for cb in cbs))
    return ok, "; ".join(parts)


#: (claim, [(fairness column, lower is better)]) of the module docstring.
CLAIMS = (
    ("smaller spread", [("positive_spread", True), ("negative_spread", True)]),
    ("worst-served group better off", [("worst_positive", False), ("worst_negative", True)]),
    ("best mean", [("positive_mean", False), ("negative_mean", True)]),
)


def _claims(fairness: pl.DataFrame, alphas: Sequence[float | None]) -> list[dict[str, Any]]:
    rows = {r["algorithm"]: r for r in fairness.iter_rows(named=True)}
    cbs = [rows[name] for name in BASELINES]
    out = []
    for alpha in alphas:
        name = three_states(alpha)
        for claim, columns in CLAIMS:
            ok, detail = _compare(rows[name], cbs, columns)
            out.append({"claim": claim, "algorithm": name, "alpha": alpha, "passed": ok,
                        "detail": detail})
    return out


def run_news_experiment(
    out_dir: str | Path,
    seed: int = 0,
    *,
    alphas: Sequence[float] = ALPHAS,
    rows: int = ROWS,
    fresh_rows: int = FRESH_ROWS,
    make_figure: bool = True,
    figure_alpha: float | None = None,
    config_overrides: dict | None = None,
    keep_models: bool = False,
) -> NewsResult:
    """Run the news fairness experiment on one seed; see the module docstring.

    ``keep_models`` keeps the fitted models on the result (for investigations).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    overrides = config_overrides or {}
    sim = simulate_logs("news", rows=rows, seed=seed)
    env = sim.environment
    logs = drop_hidden_reward(pl.from_arrow(sim.logs))
    actions = pl.from_arrow(sim.actions)
    frame = ik_training_set(logs)
    feedback = frame["feedback"].to_numpy()

    base_config = news_config(seed, **overrides)
    policies: dict[str, Any] = {
        "CB-emoji": RewardBandit(base_config).fit(
            frame, np.isin(feedback, EMOJI).astype(float), actions=actions
        ),
        "CB-comment": RewardBandit(base_config).fit(
            frame, (feedback == "comment").astype(float), actions=actions
        ),
    }
    sensitivity = fit_alpha_sensitivity(base_config, frame, alphas, actions=actions)
    policies.update(sensitivity.models())
    igl = sensitivity.estimated

    # the same fresh rounds for every policy (the stream run_policy(..., [seed, 2]) draws)
    round_seq = np.random.SeedSequence([seed, 2]).spawn(4)[0]
    rounds = env.sample_rounds(fresh_rows, np.random.default_rng(round_seq))
    fresh = rounds_frame(rounds)
    records = []
    for name, model in policies.items():
        probs = _policy_probabilities(model, fresh, rounds.max_candidates)
        for row in group_fractions(env, rounds, probs):
            records.append({"seed": seed, "algorithm": name, "alpha": _alpha_of(name), **row})
    table = pl.DataFrame(records, schema_overrides={"alpha": pl.Float64})
    fairness = fairness_table(table).with_columns(
        pl.lit(igl.ik_held_out_nll_).alias("ik_held_out_nll"),
        pl.lit(igl.ik_no_signal_nll_).alias("ik_no_signal_nll"),
        pl.lit(igl.ik_found_signal_).alias("ik_found_signal"),
        pl.lit(igl.alpha_).alias("alpha_estimate"))
    claims = pl.DataFrame(_claims(fairness, [*alphas, None]),
                          schema_overrides={"alpha": pl.Float64}).with_columns(
        pl.lit(seed).alias("seed"))

    table_path = atomic_write_parquet(table, out / f"news_seed{seed}.parquet")
    atomic_write_parquet(fairness, out / f"news_seed{seed}_fairness.parquet")
    atomic_write_parquet(claims, out / f"news_seed{seed}_claims.parquet")
    figure = out / f"news_seed{seed}.png"
    if make_figure:
        shown = [three_states(figure_alpha)] if figure_alpha is None or figure_alpha in alphas \
            else []
        _figure(figure, table.filter(pl.col("algorithm").is_in([*shown, *BASELINES])))
    result = NewsResult(seed, table, fairness, figure, table_path, claims,
                        policies if keep_models else {})
    log_result(logger, result)
    return result


def _alpha_of(name: str) -> float | None:
    return alpha_of_name(name) if name.startswith("IGL-P(3) a=") else None


@dataclass
class NewsSeeds:
    """Every seed's result, the tables stacked, and the claims seed by seed."""

    results: list[NewsResult]
    table: pl.DataFrame
    fairness: pl.DataFrame
    claims: pl.DataFrame

    @property
    def ranges(self) -> pl.DataFrame:
        """min / median / max over seeds of every fairness figure, per algorithm."""
        return min_median_max(
            self.fairness, ["positive_spread", "negative_spread", "worst_positive",
                            "worst_negative", "positive_mean", "negative_mean"],
            by=["algorithm"])

    def summary(self) -> str:
        return "\n".join([
            format_table("News fairness, min / median / max over seeds", self.ranges),
            format_table("Claims by seed", claims_by_seed(self.claims)),
        ])


def run_news_seeds(out_dir: str | Path, seeds: Sequence[int] = SEEDS, **kwargs) -> NewsSeeds:
    """:func:`run_news_experiment` on every seed; writes ``news_seeds*.parquet``."""
    out = Path(out_dir)
    results = [run_news_experiment(out, s, **kwargs) for s in seeds]
    stacked = NewsSeeds(
        results,
        pl.concat([r.table for r in results], how="diagonal_relaxed"),
        pl.concat([r.fairness for r in results], how="diagonal_relaxed"),
        pl.concat([r.claims for r in results], how="diagonal_relaxed"),
    )
    atomic_write_parquet(stacked.table, out / "news_seeds.parquet")
    atomic_write_parquet(stacked.fairness, out / "news_seeds_fairness.parquet")
    atomic_write_parquet(stacked.claims, out / "news_seeds_claims.parquet")
    logger.info("%s", stacked.summary())
    return stacked


def _figure(path: Path, table: pl.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algorithms = table["algorithm"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(algorithms)
    x = np.arange(len(GROUPS))
    for ax, (column, se, title) in zip(
        axes,
        [("positive_fraction", "positive_se", "(a) fraction of rewards that are positive"),
         ("negative_fraction", "negative_se", "(b) fraction of rewards that are negative")],
        strict=True,
    ):
        for i, name in enumerate(algorithms):
            sub = table.filter(pl.col("algorithm") == name)
            ax.bar(x + i * width, sub[column].to_numpy(), width, yerr=sub[se].to_numpy(),
                   label=name)
        ax.set_xticks(x + width * (len(algorithms) - 1) / 2, [f"{g} readers" for g in GROUPS])
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

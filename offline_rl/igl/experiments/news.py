"""News recommendation fairness (IGL-P paper, Section 4.2, Fig. 4).

Simulated uniform logs of three reader groups (``fox``, ``huffpost``, ``time``) reacting to
posts with like / love / haha / wow / sad / angry / comment / share / none
(``offline_rl.simulators.news``; variable candidate sets, post features). Three policies
of the same class are fitted off-policy on the logs:

* IGL-P(3) with ``angry`` as the definitely-negative oracle (alpha as given);
* CB-emoji: reward = any emoji reaction (love, haha, wow, sad, angry);
* CB-comment: reward = a comment.

Each is then run on fresh simulated traffic (common random numbers) and scored, per reader
group, by the fraction of recommendations whose hidden latent reward is positive and the
fraction that is negative. The check: IGL-P(3)'s spread across groups (max - min) is smaller
than both CBs' for the positive and for the negative fraction.

Writes ``news_seed{S}.png`` (two bar charts like Fig. 4) and ``news_seed{S}.parquet``;
:meth:`NewsResult.summary` is both tables as text
(logged at INFO, failed checks also at WARNING; the CLI prints it).
"""

from __future__ import annotations

import logging
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
from offline_rl.igl.experiments._common import failure_line, format_table, log_result
from offline_rl.igl.experiments.production import policy_callable
from offline_rl.igl.learner import IGLP
from offline_rl.simulators import run_policy, simulate_logs
from offline_rl.simulators.news import EMOJI, GROUPS

logger = logging.getLogger(__name__)

ROWS = 60_000
FRESH_ROWS = 30_000


def news_config(seed: int, *, alpha: float = 0.25, **overrides) -> IGLPConfig:
    params: dict[str, Any] = dict(
        states=3,
        negative_signals=("angry",),
        alpha=alpha,
        embedding_dim=4,
        context_interaction=True,
        hidden_dim=32,
        action_dim=16,
        ik_epochs=25,
        ik_warmup_epochs=3,
        ik_restarts=2,
        policy_epochs=25,
        exploration="epsilon_greedy",
        epsilon=0.05,
        seed=seed,
    )
    params.update(overrides)
    return IGLPConfig(**params)


@dataclass
class NewsResult:
    seed: int
    table: pl.DataFrame
    spread: pl.DataFrame
    figure: Path
    table_path: Path
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """The per-group table and the spread across groups as text, then failed checks."""
        text = "\n".join([
            format_table(f"News fairness per reader group (seed {self.seed}, fresh traffic)",
                         self.table),
            format_table("Spread across groups (max - min)", self.spread),
        ])
        return f"{text}\n{failure_line(self.failures)}" if self.failures else text


def run_news_experiment(
    out_dir: str | Path,
    seed: int = 0,
    *,
    rows: int = ROWS,
    fresh_rows: int = FRESH_ROWS,
    alpha: float = 0.25,
    make_figure: bool = True,
    config_overrides: dict | None = None,
) -> NewsResult:
    """Run the news fairness experiment; see the module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = news_config(seed, alpha=alpha, **(config_overrides or {}))
    sim = simulate_logs("news", rows=rows, seed=seed)
    env = sim.environment
    logs = drop_hidden_reward(pl.from_arrow(sim.logs))
    actions = pl.from_arrow(sim.actions)
    frame = ik_training_set(logs)
    feedback = frame["feedback"].to_numpy()

    policies = {
        "IGL-P(3)": IGLP(config).fit(frame, actions=actions),
        "CB-emoji": RewardBandit(config).fit(
            frame, np.isin(feedback, EMOJI).astype(float), actions=actions
        ),
        "CB-comment": RewardBandit(config).fit(
            frame, (feedback == "comment").astype(float), actions=actions
        ),
    }

    records = []
    for name, model in policies.items():
        played = run_policy(env, policy_callable(model), fresh_rows, [seed, 2])
        played = pl.from_arrow(played)
        group = np.asarray(env.user_group)[played["user_id"].to_numpy()]
        reward = played["reward"].to_numpy()
        for g, group_name in enumerate(GROUPS):
            r = reward[group == g]
            n = max(r.size, 1)
            pos, neg = float((r > 0).mean()), float((r < 0).mean())
            records.append(
                {
                    "algorithm": name,
                    "group": group_name,
                    "events": int(r.size),
                    "positive_fraction": pos,
                    "positive_se": float(np.sqrt(pos * (1 - pos) / n)),
                    "negative_fraction": neg,
                    "negative_se": float(np.sqrt(neg * (1 - neg) / n)),
                }
            )
    table = pl.DataFrame(records)
    spread = table.group_by("algorithm", maintain_order=True).agg(
        (pl.col("positive_fraction").max() - pl.col("positive_fraction").min()).alias(
            "positive_spread"),
        (pl.col("negative_fraction").max() - pl.col("negative_fraction").min()).alias(
            "negative_spread"),
        pl.col("positive_fraction").mean().alias("positive_mean"),
        pl.col("negative_fraction").mean().alias("negative_mean"),
    )
    failures = []
    igl = spread.filter(pl.col("algorithm") == "IGL-P(3)").row(0, named=True)
    for row in spread.filter(pl.col("algorithm") != "IGL-P(3)").iter_rows(named=True):
        for column in ("positive_spread", "negative_spread"):
            if not igl[column] < row[column]:
                failures.append(
                    f"IGL-P(3) {column} {igl[column]:.3f} is not below "
                    f"{row['algorithm']}'s {row[column]:.3f}"
                )
    table_path = atomic_write_parquet(table, out / f"news_seed{seed}.parquet")
    atomic_write_parquet(spread, out / f"news_seed{seed}_spread.parquet")
    figure = out / f"news_seed{seed}.png"
    if make_figure:
        _figure(figure, table)
    result = NewsResult(seed, table, spread, figure, table_path, failures)
    log_result(logger, result)
    return result


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

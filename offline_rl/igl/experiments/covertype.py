"""Covertype IGL simulation (IGL-P paper, Section 4.1, Fig. 2).

IGL-P(2) on the Covertype stream (the shipped 15k sample streamed as four shuffled passes,
60k events, uniform logging) with N = M = 100 normal/bizarro users and good/bad words and a
2-D IK embedding. The first 80% of events (by time) are fitted; the last 20% are held out.

Checks (all on the held-out events; the hidden reward is used only here, for scoring):

* decoded reward (Eq. 4) vs hidden reward: precision >= 0.90 and F1 >= 0.85 (the naive
  "good word = reward" decoder is printed beside it);
* greedy policy's true-reward rate >= 0.90 x an oracle bandit of the same model class
  trained on the true reward, and >= 0.70 absolute (majority class printed beside it);
* clustering: k-means purity 1.0 on the learned per-user representation (the decoder's
  reading of every word, ``IGLP.decoder_logits``) and >= 0.9 on the raw 2-D user and word
  embeddings.

Writes ``covertype_seed{S}.png`` (user and word embeddings coloured by the hidden
convention; IK learning curves of every restart; policy curve) and
``covertype_seed{S}.parquet`` (one row of metrics); :meth:`CovertypeResult.summary` is the
metrics as a text table (logged at INFO, failed checks also at WARNING; the CLI prints it).
"""

from __future__ import annotations

import logging
import time
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
    failure_line,
    format_table,
    kmeans_purity,
    log_result,
    precision_recall_f1,
)
from offline_rl.igl.learner import IGLP
from offline_rl.simulators import simulate_logs

logger = logging.getLogger(__name__)

ROWS = 60_000
HOLDOUT_FRACTION = 0.2

#: Acceptance thresholds of the issue.
MIN_PRECISION = 0.90
MIN_F1 = 0.85
MIN_ORACLE_RATIO = 0.90
MIN_REWARD_RATE = 0.70
MIN_USER_PURITY = 1.0
MIN_EMBEDDING_PURITY = 0.9


def covertype_config(seed: int, **overrides: Any) -> IGLPConfig:
    """The IGL-P(2) configuration of the experiment (2-D user and word embeddings)."""
    params: dict[str, Any] = dict(
        states=2,
        embedding_dim=2,
        context_interaction=False,
        hidden_dim=64,
        action_dim=16,
        ik_epochs=40,
        ik_warmup_epochs=5,
        ik_restarts=3,
        ik_learning_rate=0.03,
        policy_epochs=30,
        seed=seed,
    )
    params.update(overrides)
    return IGLPConfig(**params)


@dataclass
class CovertypeResult:
    """Metrics of one seed, where the files went, and which checks failed."""

    seed: int
    metrics: dict[str, float]
    table: pl.DataFrame
    figure: Path
    table_path: Path
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """Every metric (4 decimals) as a text table, then the failed checks, if any."""
        shown = {k: v for k, v in self.metrics.items() if k != "restart_validation_nll"}
        long = pl.DataFrame(
            {
                "metric": list(shown),
                "value": [str(round(v, 4)) if isinstance(v, float) else str(v)
                          for v in shown.values()],
            }
        )
        text = format_table(f"Covertype IGL-P(2), seed {self.seed}", long)
        return f"{text}\n{failure_line(self.failures)}" if self.failures else text


def _labels_by_context(env) -> dict[bytes, int]:
    lookup: dict[bytes, int] = {}
    contexts = np.ascontiguousarray(env.contexts, dtype=np.float32)
    for row, label in zip(contexts, env.labels, strict=True):
        lookup.setdefault(row.tobytes(), int(label))
    return lookup


def _context_labels(frame: pl.DataFrame, lookup: dict[bytes, int]) -> np.ndarray:
    n = frame.height
    values = frame["context"].explode().to_numpy().astype(np.float32).reshape(n, -1)
    return np.array([lookup.get(np.ascontiguousarray(v).tobytes(), -1) for v in values])


def run_covertype_experiment(
    out_dir: str | Path,
    seed: int = 0,
    *,
    rows: int = ROWS,
    config: IGLPConfig | None = None,
    make_figure: bool = True,
) -> CovertypeResult:
    """Run the Covertype experiment for one seed; see the module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = config or covertype_config(seed)
    sim = simulate_logs("covertype", rows=rows, seed=seed, n_users=100, n_words=100)
    env = sim.environment
    logs = pl.from_arrow(sim.logs)
    frame = ik_training_set(drop_hidden_reward(logs))
    hidden = (
        frame.select("event_id")
        .join(logs.select("event_id", "reward"), on="event_id", how="left")["reward"]
        .to_numpy()
    )
    n_train = int(round((1 - HOLDOUT_FRACTION) * frame.height))
    train, test = frame[:n_train], frame[n_train:]

    start, cpu_start = time.perf_counter(), time.process_time()
    model = IGLP(config).fit(train)
    fit_seconds = time.perf_counter() - start
    fit_cpu_seconds = time.process_time() - cpu_start

    # decoded reward vs hidden reward on held-out events
    decoded = model.decode(test)
    test_reward = hidden[n_train:]
    scores = precision_recall_f1(decoded["decoded_reward"].to_numpy() > 0, test_reward > 0)
    good = set(sim.truth["good_words"])
    naive = precision_recall_f1(
        test["feedback"].is_in(list(good)).to_numpy(), test_reward > 0
    )

    # policies' true-reward rate on the held-out contexts
    lookup = _labels_by_context(env)
    labels = _context_labels(test, lookup)
    known = labels >= 0
    policy_actions = model.predict(test)
    policy_rate = float((policy_actions[known] == labels[known]).mean())
    oracle = RewardBandit(config).fit(train, hidden[:n_train])
    oracle_actions = oracle.predict(test)
    oracle_rate = float((oracle_actions[known] == labels[known]).mean())
    majority = np.bincount(env.labels).argmax()
    majority_rate = float((labels[known] == majority).mean())

    # clustering by convention
    bizarro = np.asarray(sim.truth["user_is_bizarro"], dtype=bool)
    users, user_emb = model.user_embeddings()
    words, word_emb = model.feedback_embeddings()
    user_truth = bizarro[np.asarray(users, dtype=np.int64)]
    word_truth = np.array([w in good for w in words])
    logits = model.decoder_logits()
    reading = logits[..., -1] - logits[..., 0]  # (users, words): how "rewarding" each word
    user_purity = kmeans_purity(reading, user_truth, seed=seed)
    word_reading_purity = kmeans_purity(reading.T, word_truth, seed=seed)
    user_emb_purity = kmeans_purity(user_emb, user_truth, seed=seed)
    word_emb_purity = kmeans_purity(word_emb, word_truth, seed=seed)

    metrics = {
        "seed": seed,
        "train_events": n_train,
        "holdout_events": frame.height - n_train,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "best_restart": [r.restart for r in model.ik_restarts_ if r.kept],
        "restart_validation_nll": [r.validation_nll for r in model.ik_restarts_],
        "decoded_precision": scores["precision"],
        "decoded_recall": scores["recall"],
        "decoded_f1": scores["f1"],
        "naive_precision": naive["precision"],
        "naive_f1": naive["f1"],
        "policy_reward_rate": policy_rate,
        "oracle_reward_rate": oracle_rate,
        "oracle_ratio": policy_rate / oracle_rate if oracle_rate else float("nan"),
        "majority_rate": majority_rate,
        "uniform_rate": 1.0 / env.n_actions,
        "user_purity_reading": user_purity,
        "word_purity_reading": word_reading_purity,
        "user_purity_embedding": user_emb_purity,
        "word_purity_embedding": word_emb_purity,
    }
    failures = []
    checks = [
        ("decoded_precision", MIN_PRECISION),
        ("decoded_f1", MIN_F1),
        ("oracle_ratio", MIN_ORACLE_RATIO),
        ("policy_reward_rate", MIN_REWARD_RATE),
        ("user_purity_reading", MIN_USER_PURITY),
        ("user_purity_embedding", MIN_EMBEDDING_PURITY),
        ("word_purity_embedding", MIN_EMBEDDING_PURITY),
    ]
    for name, bound in checks:
        if not metrics[name] >= bound - 1e-12:
            failures.append(f"{name} = {metrics[name]:.4f} < {bound}")
    metrics = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in metrics.items()}
    metrics["passed"] = not failures
    table = pl.DataFrame([metrics])
    table_path = atomic_write_parquet(table, out / f"covertype_seed{seed}.parquet")
    figure = out / f"covertype_seed{seed}.png"
    if make_figure:
        _figure(figure, model, user_emb, user_truth, word_emb, word_truth, metrics)
    result = CovertypeResult(seed, metrics, table, figure, table_path, failures)
    log_result(logger, result)
    return result


def _figure(path, model, user_emb, user_truth, word_emb, word_truth, metrics) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    ax.scatter(*user_emb[~user_truth].T, c="tab:blue", s=14, label="normal users")
    ax.scatter(*user_emb[user_truth].T, c="tab:red", s=14, label="bizarro users")
    ax.set_title(f"Learned user embeddings (purity {metrics['user_purity_embedding']:.2f})")
    ax.legend()
    ax = axes[1]
    ax.scatter(*word_emb[word_truth].T, c="tab:green", s=14, label="good words")
    ax.scatter(*word_emb[~word_truth].T, c="tab:orange", s=14, label="bad words")
    ax.set_title(f"Learned word embeddings (purity {metrics['word_purity_embedding']:.2f})")
    ax.legend()
    ax = axes[2]
    for record in model.ik_restarts_:
        style = "-" if record.kept else ":"
        ax.plot(np.arange(1, len(record.curve) + 1), record.curve, style,
                label=f"IK fold {record.fold} restart {record.restart} "
                      f"(held-out NLL {record.validation_nll:.3f})")
    k = 7
    ax.axhline(np.log(k), color="grey", lw=0.8, label="uniform (log 7)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out weighted IK NLL")
    ax.set_title(
        f"Learning curve: decoded P={metrics['decoded_precision']:.3f} "
        f"F1={metrics['decoded_f1']:.3f}, policy {metrics['policy_reward_rate']:.3f} "
        f"vs oracle {metrics['oracle_reward_rate']:.3f}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def run_covertype_seeds(out_dir: str | Path, seeds=(0, 1, 2, 3, 4), **kwargs) -> pl.DataFrame:
    """Run :func:`run_covertype_experiment` for several seeds; one table row per seed."""
    results = [run_covertype_experiment(out_dir, seed, **kwargs) for seed in seeds]
    table = pl.concat([r.table for r in results], how="diagonal_relaxed")
    atomic_write_parquet(table, Path(out_dir) / "covertype_seeds.parquet")
    return table

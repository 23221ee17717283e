"""Covertype IGL simulation (IGL-P paper, Section 4.1, Fig. 2).

IGL-P(2) on the Covertype simulation (uniform logging, N = M = 100 normal/bizarro users and
good/bad words, a 2-D IK embedding). Held out means never seen: the shipped 15k examples are
split into 12,000 training and 3,000 held-out *contexts* first (:func:`split_contexts`), and
only then streamed -- 48,000 training events are four shuffled passes over the training
contexts, 12,000 held-out events four passes over the held-out contexts. The users and their
conventions are the same in both (the IK model must have met a user to read their words);
the contexts, and so the rows, are not.

Checks (all on held-out contexts; the hidden reward is used only here, for scoring):

* decoded reward (Eq. 4) vs hidden reward: precision >= 0.90 and F1 >= 0.85 (the naive
  "good word = reward" decoder is printed beside it);
* greedy policy's true-reward rate on every held-out context >= 0.90 x an oracle bandit of
  the same model class trained on the true reward of the same training events, and >= 0.70
  absolute, well above the training majority class's rate (~0.49; uniform play: 1/7);
* clustering: k-means purity 1.0 on the learned per-user representation (the decoder's
  reading of every word, ``IGLP.decoder_logits``) and >= 0.9 on the raw 2-D user and word
  embeddings.

Writes ``covertype_seed{S}.png`` (user and word embeddings coloured by the hidden
convention; IK learning curves of every restart; policy curve) and
``covertype_seed{S}.parquet`` (one row of metrics); :meth:`CovertypeResult.summary` is the
metrics as a text table (logged at INFO, failed checks also at WARNING; the CLI prints it).
:func:`run_covertype_seeds` runs several seeds and reports min / median / max.
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
from offline_rl.data.datasets import load_covertype
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import ik_training_set
from offline_rl.igl.bandit import RewardBandit
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.experiments._common import (
    failure_line,
    format_table,
    kmeans_purity,
    log_result,
    min_median_max,
    precision_recall_f1,
)
from offline_rl.igl.learner import IGLP
from offline_rl.simulators import run_policy
from offline_rl.simulators.covertype import CovertypeConfig, CovertypeEnvironment
from offline_rl.simulators.policies import UniformPolicy

logger = logging.getLogger(__name__)

ROWS = 60_000
HOLDOUT_FRACTION = 0.2
SEEDS = (0, 1, 2, 3, 4)

#: Acceptance thresholds of the issue.
MIN_PRECISION = 0.90
MIN_F1 = 0.85
MIN_ORACLE_RATIO = 0.90
MIN_REWARD_RATE = 0.70
MIN_USER_PURITY = 1.0
MIN_EMBEDDING_PURITY = 0.9
#: (metric, lower bound) of every acceptance check.
CHECKS = (
    ("decoded_precision", MIN_PRECISION),
    ("decoded_f1", MIN_F1),
    ("oracle_ratio", MIN_ORACLE_RATIO),
    ("policy_reward_rate", MIN_REWARD_RATE),
    ("user_purity_reading", MIN_USER_PURITY),
    ("user_purity_embedding", MIN_EMBEDDING_PURITY),
    ("word_purity_embedding", MIN_EMBEDDING_PURITY),
)


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


def split_contexts(n_examples: int, seed: int, holdout_fraction: float = HOLDOUT_FRACTION
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, held-out) example indices, drawn from ``(seed, 4)``.

    The split is made on the *examples* (contexts) before any pass is streamed, so no
    held-out context is ever seen in training, however many passes the stream makes.
    """
    order = np.random.default_rng([seed, 4]).permutation(n_examples)
    n_test = int(round(holdout_fraction * n_examples))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _contexts_frame(env: CovertypeEnvironment) -> pl.DataFrame:
    """Every example of ``env`` once, as a policy-input frame (users assigned in turn; the
    policy reads the context only unless ``policy_user_dim`` > 0)."""
    n = env.labels.shape[0]
    return pl.DataFrame({
        "user_id": np.arange(n, dtype=np.int64) % env.config.n_users,
        "context": pl.Series(env.contexts.tolist(), dtype=pl.List(pl.Float32)),
        "candidate_actions": pl.Series([list(range(env.n_actions))] * n,
                                       dtype=pl.List(pl.Int64)),
    })


def _context_keys(frame: pl.DataFrame) -> list[bytes]:
    values = frame["context"].explode().to_numpy().astype(np.float32).reshape(frame.height, -1)
    return [row.tobytes() for row in values]


def _frame_and_reward(logs) -> tuple[pl.DataFrame, np.ndarray]:
    logs = pl.from_arrow(logs)
    frame = ik_training_set(drop_hidden_reward(logs))
    hidden = (
        frame.select("event_id")
        .join(logs.select("event_id", "reward"), on="event_id", how="left")["reward"]
        .to_numpy()
    )
    return frame, hidden


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
    features, labels = load_covertype(None)
    train_rows, test_rows = split_contexts(labels.shape[0], seed)
    sim_config = CovertypeConfig(n_users=100, n_words=100, logging="uniform")
    # the same seed draws the same bizarro users and good words in both environments
    train_env = CovertypeEnvironment(sim_config, seed=seed,
                                     data=(features[train_rows], labels[train_rows]))
    test_env = CovertypeEnvironment(sim_config, seed=seed,
                                    data=(features[test_rows], labels[test_rows]))
    n_train = int(round((1 - HOLDOUT_FRACTION) * rows))
    train, train_reward = _frame_and_reward(
        run_policy(train_env, UniformPolicy(), n_train, [seed, 1]))
    test, test_reward = _frame_and_reward(
        run_policy(test_env, UniformPolicy(), rows - n_train, [seed, 3],
                   start_event_id=n_train))

    # held out means never seen: count held-out events whose context is a training context
    seen = set(_context_keys(train))
    contexts_seen = sum(key in seen for key in _context_keys(test))

    start, cpu_start = time.perf_counter(), time.process_time()
    model = IGLP(config).fit(train)
    fit_seconds = time.perf_counter() - start
    fit_cpu_seconds = time.process_time() - cpu_start

    # decoded reward vs hidden reward on held-out events (held-out contexts)
    decoded = model.decode(test)
    scores = precision_recall_f1(decoded["decoded_reward"].to_numpy() > 0, test_reward > 0)
    good = set(train_env.vocabulary[i] for i in train_env.good_words)
    naive = precision_recall_f1(
        test["feedback"].is_in(list(good)).to_numpy(), test_reward > 0
    )

    # policies' true-reward rate on every held-out context once
    contexts = _contexts_frame(test_env)
    policy_rate = float((model.predict(contexts) == test_env.labels).mean())
    oracle = RewardBandit(config).fit(train, train_reward)
    oracle_rate = float((oracle.predict(contexts) == test_env.labels).mean())
    majority = np.bincount(train_env.labels).argmax()  # the training majority class
    majority_rate = float((test_env.labels == majority).mean())

    # clustering by convention
    bizarro = train_env.user_is_bizarro
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
        "train_events": train.height,
        "train_contexts": int(train_rows.size),
        "holdout_events": test.height,
        "holdout_contexts": int(test_rows.size),
        "holdout_events_with_training_context": contexts_seen,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "best_restart": [r.restart for r in model.ik_restarts_ if r.kept],
        "ik_held_out_nll": model.ik_held_out_nll_,
        "ik_no_signal_nll": model.ik_no_signal_nll_,
        "ik_found_signal": model.ik_found_signal_,
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
        "uniform_rate": 1.0 / test_env.n_actions,
        "user_purity_reading": user_purity,
        "word_purity_reading": word_reading_purity,
        "user_purity_embedding": user_emb_purity,
        "word_purity_embedding": word_emb_purity,
    }
    failures = [f"{name} = {metrics[name]:.4f} < {bound}" for name, bound in CHECKS
                if not metrics[name] >= bound - 1e-12]
    if contexts_seen:
        failures.append(f"{contexts_seen} held-out events have a training context")
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


@dataclass
class CovertypeSeeds:
    """Every seed's result, one table row per seed, and min / median / max over seeds."""

    results: list[CovertypeResult]
    table: pl.DataFrame

    @property
    def ranges(self) -> pl.DataFrame:
        return min_median_max(self.table, [name for name in RANGE_COLUMNS
                                           if name in self.table.columns])

    @property
    def failed_seeds(self) -> list[int]:
        return [r.seed for r in self.results if not r.passed]

    def summary(self) -> str:
        return format_table("Covertype IGL-P(2), min / median / max over seeds", self.ranges)


#: The metrics summarised over seeds.
RANGE_COLUMNS = (
    "ik_held_out_nll", "decoded_precision", "decoded_recall", "decoded_f1", "naive_f1",
    "policy_reward_rate",
    "oracle_reward_rate", "oracle_ratio", "majority_rate", "user_purity_reading",
    "word_purity_reading", "user_purity_embedding", "word_purity_embedding", "fit_seconds",
)


def run_covertype_seeds(out_dir: str | Path, seeds=SEEDS, **kwargs) -> CovertypeSeeds:
    """Run :func:`run_covertype_experiment` for several seeds; one table row per seed
    (``covertype_seeds.parquet``) and min / median / max over them."""
    results = [run_covertype_experiment(out_dir, seed, **kwargs) for seed in seeds]
    table = pl.concat([r.table for r in results], how="diagonal_relaxed")
    atomic_write_parquet(table, Path(out_dir) / "covertype_seeds.parquet")
    stacked = CovertypeSeeds(results, table)
    logger.info("%s", stacked.summary())
    return stacked

"""The MTRec experiment end to end: ``run_mtrec_experiment(out_dir, seed)``.

On the sessions simulator (hidden per-step satisfaction, clicks observed):

1. ``user_trajectories`` from the logs (hidden reward dropped); users split 80/20 into train and
   test; QR-IQL (N = 10) and IQ-Learn (N = 1) fitted on the train users' trajectories.
2. Table 1: every backbone trained on train steps with kappa = 0 (base), with QR-IQL rewards
   (``-MTRec``) and with IQ-Learn rewards (``-IRL``); AUC of the click on test steps and
   trajectory NCIS (trained minus untrained, one trajectory per test session) on test steps.
   ``ncis_base_shifted`` is a control: the base model's NCIS after shifting its logits so its
   mean CTR equals the row's model (NCIS rises with the CTR level alone).
3. Spearman of r* (both reward models) and of the raw click with the hidden satisfaction;
   again (``satisfaction_check``) with reward models whose discount is the simulated users'
   own (gamma = 0: they are myopic), fitted on ``satisfaction_rows`` fresh steps.
4. Fig. 3(a): mean r* by step position (PNG).
5. Held-out explicit signals: production-like logs, trained with click/none only
   (like and dislike count as engagement, response 1); AUC of r* separating liked steps from
   disliked steps, and Spearman of r* with the hidden reward.
6. Eq. 12: REINFORCE on the sessions environment with r_env (click) vs r_env + kappa r*.

Everything is written atomically into ``out_dir``: ``mtrec_table.csv``/``.md``,
``reward_correlations.csv``, ``satisfaction_check.json``, ``mental_reward_by_step.csv``/``.png``,
``explicit_check.json``, ``rl_variant.csv`` and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl.data.atomic import atomic_write_bytes, atomic_write_text
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import PrepareConfig, user_trajectories
from offline_rl.evaluation.auc import roc_auc
from offline_rl.evaluation.trajectory_ncis import ncis_minus_untrained
from offline_rl.mtrec.classifier import MTRecClassifier, MTRecConfig
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators import sessions as sessions_sim
from offline_rl.simulators import simulate_logs

DEFAULT_BACKBONES = ("wide_deep", "deepfm", "pnn", "din", "dien", "sasrec")
DISPLAY = {"wide_deep": "Wide&Deep", "deepfm": "DeepFM", "pnn": "PNN", "din": "DIN",
           "dien": "DIEN", "sasrec": "SASRec"}


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Sizes of the MTRec experiment (defaults fit a few minutes on 2 CPU cores)."""

    rows: int = 20000
    """Logged steps of the sessions simulator."""
    production_rows: int = 20000
    """Logged rounds of the production simulator (explicit-signal check)."""
    backbones: tuple[str, ...] = DEFAULT_BACKBONES
    """CTR backbones of the table."""
    kappa: float = 0.2
    """Alignment weight of the +MTRec rows (on standardised rewards)."""
    reward_steps: int = 400
    """Adam steps of each reward model."""
    reward_batch_size: int = 1000
    """Mini-batch of each reward model."""
    gamma: float = 0.9
    """Discount of the reward models."""
    ctr_epochs: int = 4
    """Epochs of each CTR backbone."""
    rl_iterations: int = 25
    """REINFORCE iterations of the Eq. 12 check (0 skips it)."""
    rl_kappa: float = 0.2
    """kappa of the Eq. 12 check (the paper's Virtual Taobao value)."""
    test_fraction: float = 0.2
    """Share of users held out for AUC and NCIS."""
    satisfaction_rows: int = 100000
    """Logged steps of the satisfaction check (0 skips it). Fewer than about 50,000 leave the
    reward model's estimate of the users' click probability too noisy (docs/qriql.md)."""
    satisfaction_gamma: float = 0.0
    """Discount of the satisfaction check's reward models: the simulated users' own (they are
    myopic), so that IQ-Learn is correctly specified."""
    max_threads: int = 1
    """torch CPU threads."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Sessions simulator options."""

    def __post_init__(self) -> None:
        for name in ("rows", "production_rows", "satisfaction_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"The {name!r} parameter of ExperimentConfig must be an int "
                                 f">= 0. Got {value!r} instead.")
        for name in ("gamma", "satisfaction_gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"The {name!r} parameter of ExperimentConfig must be a real in "
                                 f"[0, 1). Got {value!r} instead.")


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    ra = pl.Series(np.asarray(a, dtype=np.float64)).rank("average").to_numpy()
    rb = pl.Series(np.asarray(b, dtype=np.float64)).rank("average").to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def shift_to_mean(probs: np.ndarray, target: float) -> np.ndarray:
    """``sigmoid(logit(probs) + c)`` with ``c`` found by bisection so the mean is ``target``."""
    clipped = np.clip(probs, 1e-7, 1 - 1e-7)
    logits = np.log(clipped) - np.log1p(-clipped)
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        if (1.0 / (1.0 + np.exp(-(logits + middle)))).mean() < target:
            low = middle
        else:
            high = middle
    return 1.0 / (1.0 + np.exp(-(logits + 0.5 * (low + high))))


def _reward_config(cfg: ExperimentConfig, quantiles: int, seed: int) -> QRIQLConfig:
    return QRIQLConfig(quantiles=quantiles, steps=cfg.reward_steps,
                       batch_size=cfg.reward_batch_size, gamma=cfg.gamma, seed=seed,
                       max_threads=cfg.max_threads)


def _write_frame(frame: pl.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.write_csv())


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = []
    for row in frame.iter_rows():
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows]) + "\n"


def run_mtrec_experiment(
    out_dir: str | os.PathLike[str], seed: int = 0, *, config: ExperimentConfig | None = None,
    log=print,
) -> dict[str, Any]:
    """Run the experiment and write its tables and figure into ``out_dir``; return the summary."""
    cfg = config or ExperimentConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sim = sessions_sim.simulate(rows=cfg.rows, seed=seed, **cfg.extra)
    logs = pl.from_arrow(sim.logs)
    satisfaction = logs.select("event_id", "reward")
    trajectories = user_trajectories(drop_hidden_reward(logs))
    categories = dict(enumerate(sim.truth["item_category"]))
    users = np.sort(trajectories["user_id"].unique().to_numpy())
    rng = np.random.default_rng([seed, 7])
    test_users = set(rng.choice(users, size=max(1, int(len(users) * cfg.test_fraction)),
                                replace=False).tolist())
    is_test = pl.col("user_id").is_in(list(test_users))
    train, test = trajectories.filter(~is_test), trajectories.filter(is_test)
    log(f"sessions: {logs.height} steps, train {train.height}, test {test.height} "
        f"({len(test_users)} users)")

    reward_models: dict[str, QRIQL] = {}
    rewards: dict[str, pl.DataFrame] = {}
    for name, quantiles in (("QR-IQL", 10), ("IQ-Learn", 1)):
        t0 = time.perf_counter()
        model = QRIQL(_reward_config(cfg, quantiles, seed)).fit(train, item_categories=categories)
        reward_models[name] = model
        rewards[name] = model.mental_rewards(trajectories)
        log(f"{name}: {time.perf_counter() - t0:.1f}s, final loss {model.loss_curve_[-1]:.4f}")

    # ---- Table 1
    test_keys = test.select(
        pl.col("user_id").cast(pl.String) + "/" + pl.col("session_id").cast(pl.String)
    ).to_series().to_numpy()
    table_rows = []
    for backbone in cfg.backbones:
        for suffix, reward_name, kappa in (("", None, 0.0), ("-IRL", "IQ-Learn", cfg.kappa),
                                           ("-MTRec", "QR-IQL", cfg.kappa)):
            t0 = time.perf_counter()
            model = MTRecClassifier(MTRecConfig(
                backbone=backbone, kappa=kappa, epochs=cfg.ctr_epochs, seed=seed,
                max_threads=cfg.max_threads,
            )).fit(train, rewards=rewards[reward_name] if reward_name else None,
                   item_categories=categories)
            probs = model.predict_proba(test)
            untrained = model.predict_proba(test, untrained=True)
            floor = 1e-6
            ncis = ncis_minus_untrained(test_keys, np.clip(probs, floor, 1.0),
                                        np.clip(untrained, floor, 1.0))
            auc = roc_auc(test["response"].to_numpy(), probs)
            if reward_name is None:
                base_probs = probs
            # Control: the base model's logits shifted to the same mean CTR as this model.
            # NCIS multiplies p_t over every step, so a higher CTR level alone raises it.
            shifted = shift_to_mean(base_probs, float(probs.mean()))
            control = ncis_minus_untrained(test_keys, np.clip(shifted, floor, 1.0),
                                           np.clip(untrained, floor, 1.0))
            table_rows.append({"model": DISPLAY.get(backbone, backbone) + suffix,
                               "backbone": backbone, "reward_model": reward_name or "none",
                               "kappa": kappa, "auc": auc, "ncis": ncis.value,
                               "ncis_ess": ncis.ess, "mean_prob": float(probs.mean()),
                               "ncis_base_shifted": control.value,
                               "seconds": time.perf_counter() - t0})
            log(f"{table_rows[-1]['model']}: AUC {auc:.4f} NCIS {ncis.value:.4f}")
    table = pl.DataFrame(table_rows)
    _write_frame(table, out / "mtrec_table.csv")
    atomic_write_text(out / "mtrec_table.md",
                      _markdown(table.select("model", "auc", "ncis", "ncis_base_shifted")))

    # ---- Spearman with the hidden satisfaction
    correlations = []
    for split_name, frame in (("all", trajectories), ("test", test)):
        joined = frame.select("event_id", "response").join(satisfaction, on="event_id")
        row = {"rows": split_name, "n": joined.height,
               "click": spearman(joined["response"], joined["reward"])}
        for name, reward in rewards.items():
            merged = joined.join(reward.select("event_id", "mental_reward",
                                               "mental_reward_positive",
                                               "mental_reward_negative"), on="event_id")
            row[f"r_star_{name}"] = spearman(merged["mental_reward"], merged["reward"])
            # the quantity Eq. 9 uses: r*(s, a^P) - r*(s, a^N)
            row[f"r_star_advantage_{name}"] = spearman(
                merged["mental_reward_positive"] - merged["mental_reward_negative"],
                merged["reward"])
        # 2 standard errors of a rank correlation near 0: 2 / sqrt(n - 1)
        row["margin_2se"] = 2.0 / math.sqrt(max(joined.height - 1, 1))
        correlations.append(row)
    correlation_frame = pl.DataFrame(correlations)
    _write_frame(correlation_frame, out / "reward_correlations.csv")

    satisfaction_summary: dict[str, Any] = {}
    if cfg.satisfaction_rows > 0:
        satisfaction_summary = satisfaction_check(cfg, seed, log=log)
        atomic_write_text(out / "satisfaction_check.json",
                          json.dumps(satisfaction_summary, indent=2) + "\n")

    # ---- Fig. 3(a)
    by_step = pl.concat([
        reward.select("step", "mental_reward").with_columns(pl.lit(name).alias("reward_model"))
        for name, reward in rewards.items()
    ])
    by_step = (by_step.filter(pl.col("step") < 10)
               .group_by("reward_model", "step")
               .agg(pl.col("mental_reward").mean().alias("mean_mental_reward"), pl.len().alias("n"))
               .sort("reward_model", "step"))
    truth_by_step = (trajectories.select("event_id", "step").join(satisfaction, on="event_id")
                     .filter(pl.col("step") < 10).group_by("step")
                     .agg(pl.col("reward").mean().alias("mean_satisfaction")).sort("step"))
    by_step = by_step.join(truth_by_step, on="step")
    _write_frame(by_step, out / "mental_reward_by_step.csv")
    _plot_by_step(by_step, out / "mental_reward_by_step.png")

    # ---- explicit signals held out (production-like logs)
    explicit = explicit_signal_check(cfg, seed, log=log)
    atomic_write_text(out / "explicit_check.json", json.dumps(explicit, indent=2) + "\n")

    # ---- Eq. 12
    rl_rows = []
    if cfg.rl_iterations > 0:
        from offline_rl.mtrec.policy_gradient import evaluate_policy, train_policy

        env = sim.environment
        for name, model, kappa in (("REINFORCE", None, 0.0),
                                   ("REINFORCE-IRL", reward_models["IQ-Learn"], cfg.rl_kappa),
                                   ("REINFORCE-MTRec", reward_models["QR-IQL"], cfg.rl_kappa)):
            policy = train_policy(env, reward_model=model, kappa=kappa,
                                  iterations=cfg.rl_iterations, seed=seed,
                                  max_threads=cfg.max_threads)
            result = evaluate_policy(env, policy, kappa=kappa, seed=seed)
            rl_rows.append({"model": name, **asdict(result)})
            log(f"{name}: {asdict(result)}")
        _write_frame(pl.DataFrame(rl_rows), out / "rl_variant.csv")

    summary = {
        "seed": seed,
        "config": {**asdict(cfg), "backbones": list(cfg.backbones)},
        "table": table_rows,
        "reward_correlations": correlations,
        "satisfaction_check": satisfaction_summary,
        "mental_reward_by_step": by_step.to_dicts(),
        "explicit_check": explicit,
        "rl_variant": rl_rows,
        "seconds": time.perf_counter() - started,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def satisfaction_check(cfg: ExperimentConfig, seed: int, *, log=print) -> dict[str, Any]:
    """Spearman with the hidden satisfaction: click vs r* of reward models with the users' gamma.

    Sessions simulator, ``cfg.satisfaction_rows`` steps drawn from ``seed`` (same users and
    catalogue as the main experiment, more sessions); QR-IQL and IQ-Learn fitted on all of them
    with ``gamma = cfg.satisfaction_gamma``. Reports both the logged action's r* (Fig. 3) and
    ``r*(s, a^P) - r*(s, a^N)`` (Eq. 9), and the margin ``2 / sqrt(n - 1)``.
    """
    sim = sessions_sim.simulate(rows=cfg.satisfaction_rows, seed=seed, **cfg.extra)
    logs = pl.from_arrow(sim.logs)
    trajectories = user_trajectories(drop_hidden_reward(logs))
    satisfaction = logs.select("event_id", "reward")
    joined = trajectories.select("event_id", "response").join(satisfaction, on="event_id")
    result: dict[str, Any] = {
        "rows": joined.height, "gamma": cfg.satisfaction_gamma,
        "margin_2se": 2.0 / math.sqrt(max(joined.height - 1, 1)),
        "click": spearman(joined["response"], joined["reward"]),
    }
    for name, quantiles in (("QR-IQL", 10), ("IQ-Learn", 1)):
        config = dataclasses.replace(_reward_config(cfg, quantiles, seed),
                                     gamma=cfg.satisfaction_gamma)
        model = QRIQL(config).fit(trajectories,
                                  item_categories=dict(enumerate(sim.truth["item_category"])))
        rewards = model.mental_rewards(trajectories).join(satisfaction, on="event_id")
        result[name] = {
            "r_star": spearman(rewards["mental_reward"], rewards["reward"]),
            "r_star_advantage": spearman(
                rewards["mental_reward_positive"] - rewards["mental_reward_negative"],
                rewards["reward"]),
        }
    log(f"satisfaction check: {result}")
    return result


def explicit_signal_check(cfg: ExperimentConfig, seed: int, *, log=print) -> dict[str, Any]:
    """Train on click/none only; AUC of r* separating liked from disliked steps."""
    sim = simulate_logs("production", rows=cfg.production_rows, seed=seed)
    logs = pl.from_arrow(sim.logs)
    # Only 'none' is negative: like and dislike are engagement like a click, so the reward
    # model never learns which engaged steps were liked or disliked.
    trajectories = user_trajectories(drop_hidden_reward(logs),
                                     config=PrepareConfig(negative_signals=("none",)))
    truth = logs.select("event_id", "feedback", "reward")
    result: dict[str, Any] = {"rows": logs.height}
    for name, quantiles in (("QR-IQL", 10), ("IQ-Learn", 1)):
        model = QRIQL(_reward_config(cfg, quantiles, seed)).fit(trajectories)
        rewards = model.mental_rewards(trajectories).select(
            "event_id", "mental_reward",
            (pl.col("mental_reward_positive") - pl.col("mental_reward_negative")).alias("advantage"))
        joined = rewards.join(truth, on="event_id")
        engaged = joined.filter(pl.col("feedback").is_in(["like", "dislike"]))
        liked = (engaged["feedback"] == "like").to_numpy()
        auc = roc_auc(liked, engaged["mental_reward"].to_numpy()) if 0 < liked.sum() < len(liked) \
            else float("nan")
        advantage_auc = (roc_auc(liked, engaged["advantage"].to_numpy())
                         if 0 < liked.sum() < len(liked) else float("nan"))
        result[name] = {
            "auc_like_vs_dislike": auc,
            "auc_like_vs_dislike_advantage": advantage_auc,
            "n_like": int(liked.sum()),
            "n_dislike": int((~liked).sum()),
            "spearman_hidden_reward": spearman(joined["mental_reward"], joined["reward"]),
        }
        log(f"explicit check {name}: {result[name]}")
    clicks = truth.with_columns((pl.col("feedback") != "none").alias("engaged"))
    result["click_spearman_hidden_reward"] = spearman(clicks["engaged"].cast(pl.Float64),
                                                      clicks["reward"])
    return result


def _plot_by_step(by_step: pl.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name in by_step["reward_model"].unique().sort().to_list():
        part = by_step.filter(pl.col("reward_model") == name)
        ax.plot(part["step"] + 1, part["mean_mental_reward"], marker="o", label=f"r* ({name})")
    truth = by_step.filter(pl.col("reward_model") == by_step["reward_model"][0])
    ax2 = ax.twinx()
    ax2.plot(truth["step"] + 1, truth["mean_satisfaction"], color="grey", linestyle="--",
             label="hidden satisfaction")
    ax.set_xlabel("step in session")
    ax.set_ylabel("mean mental reward")
    ax2.set_ylabel("mean hidden satisfaction")
    ax.legend(loc="upper right", fontsize=8)
    ax2.legend(loc="lower left", fontsize=8)
    ax.set_title("Mean mental reward by step (MTRec Fig. 3a)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())

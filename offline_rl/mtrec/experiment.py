"""The MTRec experiment end to end: ``run_mtrec_experiment(out_dir, seed)``.

On the sessions simulator (hidden per-step satisfaction, clicks observed),
:func:`simulate_sessions` draws the logs, builds ``user_trajectories`` (hidden reward dropped)
and splits the users 80/20 into train and test; QR-IQL (N = 10) and IQ-Learn (N = 1) are fitted
on the train users' trajectories (:func:`fit_reward_models`). Then six experiments, one function
each:

1. :func:`alignment_table` (Table 1): every backbone trained on train steps with kappa = 0
   (base), with QR-IQL rewards (``-MTRec``) and with IQ-Learn rewards (``-IRL``); AUC of the
   click on test steps and trajectory NCIS (trained minus untrained, one trajectory per test
   session) on test steps. ``ncis_base_shifted`` is a control: the base model's NCIS after
   shifting its logits so its mean CTR equals the row's model (NCIS rises with the CTR level
   alone).
2. :func:`reward_correlations`: Spearman of r* (both reward models) and of the raw click with
   the hidden satisfaction.
3. :func:`satisfaction_check`: the same with reward models whose discount is the simulated
   users' own (gamma = 0: they are myopic), fitted on ``satisfaction_rows`` fresh steps.
4. :func:`mental_reward_by_step` (Fig. 3(a)): mean r* by step position (PNG).
5. :func:`explicit_signal_check`: held-out explicit signals on production-like logs, trained
   with click/none only (like and dislike count as engagement, response 1); AUC of r*
   separating liked steps from disliked steps, and Spearman of r* with the hidden reward.
6. :func:`rl_variant` (Eq. 12): REINFORCE on the sessions environment with r_env (click) vs
   r_env + kappa r*.

:func:`run_mtrec_experiment` runs them in this order and writes everything atomically into
``out_dir``: ``mtrec_table.csv``/``.md``, ``reward_correlations.csv``,
``satisfaction_check.json``, ``mental_reward_by_step.csv``/``.png``, ``explicit_check.json``,
``rl_variant.csv`` and ``summary.json``. Progress goes to the ``logging`` logger of this module.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from offline_rl.config import Config, Integer, Real, Rule, Strings, Table
from offline_rl.data.atomic import atomic_write_bytes, atomic_write_text
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import PrepareConfig, user_trajectories
from offline_rl.evaluation.auc import roc_auc
from offline_rl.evaluation.trajectory_ncis import ncis_minus_untrained
from offline_rl.mtrec.backbones import BACKBONES
from offline_rl.mtrec.classifier import MTRecClassifier, MTRecConfig
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.simulators import sessions as sessions_sim
from offline_rl.simulators import simulate_logs

logger = logging.getLogger(__name__)

DEFAULT_BACKBONES = tuple(BACKBONES)
DISPLAY = {"wide_deep": "Wide&Deep", "deepfm": "DeepFM", "pnn": "PNN", "din": "DIN",
           "dien": "DIEN", "sasrec": "SASRec"}
#: The two reward models of every experiment: name -> quantile heads N (1 = IQ-Learn).
REWARD_MODELS = (("QR-IQL", 10), ("IQ-Learn", 1))
#: Table 1's aligned rows: reward model -> suffix of the row's name (the base row has none).
ALIGNED_ROWS = (("IQ-Learn", "-IRL"), ("QR-IQL", "-MTRec"))
#: Probability floor of the NCIS products (a zero would end a trajectory's weight).
NCIS_FLOOR = 1e-6
_SESSIONS_OPTIONS = frozenset(f.name for f in dataclasses.fields(sessions_sim.SessionsConfig))


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig(Config):
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
    """Sessions simulator options (fields of SessionsConfig)."""

    CONSTRAINTS = {
        "rows": Integer(1),
        "production_rows": Integer(1),
        "backbones": Strings(options=tuple(BACKBONES), min_length=1),
        "kappa": Real(0.0),
        "reward_steps": Integer(1),
        "reward_batch_size": Integer(1),
        "gamma": Real(0.0, 1.0, high_open=True),
        "ctr_epochs": Integer(1),
        "rl_iterations": Integer(0),
        "rl_kappa": Real(0.0),
        "test_fraction": Real(0.0, 1.0, low_open=True, high_open=True),
        "satisfaction_rows": Integer(0),
        "satisfaction_gamma": Real(0.0, 1.0, high_open=True),
        "max_threads": Integer(1),
        "extra": Table(),
    }
    RULES = (
        Rule("extra", "a mapping whose keys are SessionsConfig fields "
             f"(valid: {sorted(_SESSIONS_OPTIONS)})",
             lambda c: set(c.extra) <= _SESSIONS_OPTIONS),
    )


@dataclass(frozen=True, eq=False)
class SessionsSplit:
    """The main sessions logs, shared by experiments 1, 2, 4 and 6 (3 and 5 simulate their own).

    ``satisfaction`` (``event_id``, ``reward``) is the simulator's hidden truth: it is joined to
    scores after fitting and never passed to a learner.
    """

    trajectories: pl.DataFrame
    train: pl.DataFrame
    test: pl.DataFrame
    test_users: int
    satisfaction: pl.DataFrame
    item_categories: dict[int, Any]
    environment: sessions_sim.SessionEnvironment


class CTRProbabilities(NamedTuple):
    """A CTR model's click probabilities on the test steps, trained and before training."""

    trained: np.ndarray
    untrained: np.ndarray


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


# ------------------------------------------------------------------------------ shared helpers
def simulate_sessions(cfg: ExperimentConfig, seed: int) -> SessionsSplit:
    """``cfg.rows`` sessions-simulator steps as trajectories, users split by ``cfg.test_fraction``.

    The test users are drawn from ``(seed, 7)``, independently of the simulation's draws.
    """
    sim = sessions_sim.simulate(rows=cfg.rows, seed=seed, **cfg.extra)
    logs = pl.from_arrow(sim.logs)
    trajectories = user_trajectories(drop_hidden_reward(logs))
    users = np.sort(trajectories["user_id"].unique().to_numpy())
    rng = np.random.default_rng([seed, 7])
    test_users = set(rng.choice(users, size=max(1, int(len(users) * cfg.test_fraction)),
                                replace=False).tolist())
    is_test = pl.col("user_id").is_in(list(test_users))
    return SessionsSplit(
        trajectories=trajectories,
        train=trajectories.filter(~is_test),
        test=trajectories.filter(is_test),
        test_users=len(test_users),
        satisfaction=logs.select("event_id", "reward"),
        item_categories=dict(enumerate(sim.truth["item_category"])),
        environment=sim.environment,
    )


def _reward_config(cfg: ExperimentConfig, quantiles: int, seed: int, gamma: float) -> QRIQLConfig:
    return QRIQLConfig(quantiles=quantiles, steps=cfg.reward_steps,
                       batch_size=cfg.reward_batch_size, gamma=gamma, seed=seed,
                       max_threads=cfg.max_threads)


def fit_reward_models(
    cfg: ExperimentConfig, trajectories: pl.DataFrame, seed: int, *, gamma: float,
    item_categories: dict[int, Any] | None = None,
) -> dict[str, QRIQL]:
    """QR-IQL and IQ-Learn (:data:`REWARD_MODELS`) fitted on ``trajectories`` with ``gamma``."""
    return {
        name: QRIQL(_reward_config(cfg, quantiles, seed, gamma)).fit(
            trajectories, item_categories=item_categories)
        for name, quantiles in REWARD_MODELS
    }


def _write_frame(frame: pl.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.write_csv())


def _write_json(value: Any, path: Path) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, default=str) + "\n")


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = []
    for row in frame.iter_rows():
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows]) + "\n"


# ------------------------------------------------------------------------- 1. Table 1
def _ctr_probabilities(
    cfg: ExperimentConfig, seed: int, data: SessionsSplit, backbone: str, *, kappa: float,
    rewards: pl.DataFrame | None,
) -> CTRProbabilities:
    model = MTRecClassifier(MTRecConfig(
        backbone=backbone, kappa=kappa, epochs=cfg.ctr_epochs, seed=seed,
        max_threads=cfg.max_threads,
    )).fit(data.train, rewards=rewards, item_categories=data.item_categories)
    return CTRProbabilities(model.predict_proba(data.test),
                            model.predict_proba(data.test, untrained=True))


def _ncis(test_keys: np.ndarray, probs: np.ndarray, untrained: np.ndarray):
    return ncis_minus_untrained(test_keys, np.clip(probs, NCIS_FLOOR, 1.0),
                                np.clip(untrained, NCIS_FLOOR, 1.0))


def alignment_table(
    cfg: ExperimentConfig, seed: int, data: SessionsSplit, rewards: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    """Table 1: per backbone the base model (kappa = 0), then the -IRL and -MTRec rows.

    Columns: model, backbone, reward_model, kappa, auc, ncis, ncis_ess, mean_prob,
    ncis_base_shifted (the control of the module docstring) and seconds (fit and scoring).
    """
    test_keys = data.test.select(
        pl.col("user_id").cast(pl.String) + "/" + pl.col("session_id").cast(pl.String)
    ).to_series().to_numpy()
    labels = data.test["response"].to_numpy()

    def row(backbone: str, reward_name: str | None, suffix: str, kappa: float,
            probs: CTRProbabilities, base: np.ndarray, started: float) -> dict[str, Any]:
        ncis = _ncis(test_keys, probs.trained, probs.untrained)
        auc = roc_auc(labels, probs.trained)
        # Control: the base model's logits shifted to the same mean CTR as this model.
        # NCIS multiplies p_t over every step, so a higher CTR level alone raises it.
        control = _ncis(test_keys, shift_to_mean(base, float(probs.trained.mean())),
                        probs.untrained)
        result = {"model": DISPLAY.get(backbone, backbone) + suffix, "backbone": backbone,
                  "reward_model": reward_name or "none", "kappa": kappa, "auc": auc,
                  "ncis": ncis.value, "ncis_ess": ncis.ess,
                  "mean_prob": float(probs.trained.mean()), "ncis_base_shifted": control.value,
                  "seconds": time.perf_counter() - started}
        logger.info("%s: AUC %.4f NCIS %.4f", result["model"], auc, ncis.value)
        return result

    rows = []
    for backbone in cfg.backbones:
        started = time.perf_counter()
        base = _ctr_probabilities(cfg, seed, data, backbone, kappa=0.0, rewards=None)
        rows.append(row(backbone, None, "", 0.0, base, base.trained, started))
        for reward_name, suffix in ALIGNED_ROWS:
            started = time.perf_counter()
            aligned = _ctr_probabilities(cfg, seed, data, backbone, kappa=cfg.kappa,
                                         rewards=rewards[reward_name])
            rows.append(row(backbone, reward_name, suffix, cfg.kappa, aligned, base.trained,
                            started))
    return pl.DataFrame(rows)


# ------------------------------------------------------- 2. Spearman with the hidden satisfaction
def reward_correlations(data: SessionsSplit, rewards: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Spearman of the click, r* and ``r*(s, a^P) - r*(s, a^N)`` with the hidden satisfaction,
    on all steps and on the test users' steps, with the margin ``2 / sqrt(n - 1)``."""
    correlations = []
    for split_name, frame in (("all", data.trajectories), ("test", data.test)):
        joined = frame.select("event_id", "response").join(data.satisfaction, on="event_id")
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
    return pl.DataFrame(correlations)


# ------------------------------------------------------------------ 3. users' own discount
def satisfaction_check(cfg: ExperimentConfig, seed: int) -> dict[str, Any]:
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
    models = fit_reward_models(cfg, trajectories, seed, gamma=cfg.satisfaction_gamma,
                               item_categories=dict(enumerate(sim.truth["item_category"])))
    for name, model in models.items():
        rewards = model.mental_rewards(trajectories).join(satisfaction, on="event_id")
        result[name] = {
            "r_star": spearman(rewards["mental_reward"], rewards["reward"]),
            "r_star_advantage": spearman(
                rewards["mental_reward_positive"] - rewards["mental_reward_negative"],
                rewards["reward"]),
        }
    logger.info("satisfaction check: %s", result)
    return result


# --------------------------------------------------------------------------- 4. Fig. 3(a)
def mental_reward_by_step(data: SessionsSplit, rewards: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Mean r* per reward model and step position (< 10), beside the mean hidden satisfaction."""
    by_step = pl.concat([
        reward.select("step", "mental_reward").with_columns(pl.lit(name).alias("reward_model"))
        for name, reward in rewards.items()
    ])
    by_step = (by_step.filter(pl.col("step") < 10)
               .group_by("reward_model", "step")
               .agg(pl.col("mental_reward").mean().alias("mean_mental_reward"), pl.len().alias("n"))
               .sort("reward_model", "step"))
    truth_by_step = (data.trajectories.select("event_id", "step")
                     .join(data.satisfaction, on="event_id")
                     .filter(pl.col("step") < 10).group_by("step")
                     .agg(pl.col("reward").mean().alias("mean_satisfaction")).sort("step"))
    return by_step.join(truth_by_step, on="step")


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


# --------------------------------------------------------------- 5. held-out explicit signals
def explicit_signal_check(cfg: ExperimentConfig, seed: int) -> dict[str, Any]:
    """Train on click/none only; AUC of r* separating liked from disliked steps."""
    sim = simulate_logs("production", rows=cfg.production_rows, seed=seed)
    logs = pl.from_arrow(sim.logs)
    # Only 'none' is negative: like and dislike are engagement like a click, so the reward
    # model never learns which engaged steps were liked or disliked.
    trajectories = user_trajectories(drop_hidden_reward(logs), config=PrepareConfig(
        negative_signals=("none",), positive_signals=("click", "like", "dislike")))
    truth = logs.select("event_id", "feedback", "reward")
    result: dict[str, Any] = {"rows": logs.height}
    for name, model in fit_reward_models(cfg, trajectories, seed, gamma=cfg.gamma).items():
        rewards = model.mental_rewards(trajectories).select(
            "event_id", "mental_reward",
            (pl.col("mental_reward_positive") - pl.col("mental_reward_negative")).alias("advantage"))
        joined = rewards.join(truth, on="event_id")
        engaged = joined.filter(pl.col("feedback").is_in(["like", "dislike"]))
        liked = (engaged["feedback"] == "like").to_numpy()
        both = 0 < liked.sum() < len(liked)
        result[name] = {
            "auc_like_vs_dislike": (roc_auc(liked, engaged["mental_reward"].to_numpy())
                                    if both else float("nan")),
            "auc_like_vs_dislike_advantage": (roc_auc(liked, engaged["advantage"].to_numpy())
                                              if both else float("nan")),
            "n_like": int(liked.sum()),
            "n_dislike": int((~liked).sum()),
            "spearman_hidden_reward": spearman(joined["mental_reward"], joined["reward"]),
        }
        logger.info("explicit check %s: %s", name, result[name])
    clicks = truth.with_columns((pl.col("feedback") != "none").alias("engaged"))
    result["click_spearman_hidden_reward"] = spearman(clicks["engaged"].cast(pl.Float64),
                                                      clicks["reward"])
    return result


# ----------------------------------------------------------------------------- 6. Eq. 12
def rl_variant(
    cfg: ExperimentConfig, seed: int, env: sessions_sim.SessionEnvironment,
    reward_models: dict[str, QRIQL],
) -> list[dict[str, Any]]:
    """REINFORCE with r_env, r_env + rl_kappa r* (IQ-Learn) and (QR-IQL), each evaluated on
    fresh sessions; one row per policy (empty when ``cfg.rl_iterations`` is 0)."""
    from offline_rl.mtrec.policy_gradient import evaluate_policy, train_policy

    rows = []
    if cfg.rl_iterations == 0:
        return rows
    for name, model, kappa in (("REINFORCE", None, 0.0),
                               ("REINFORCE-IRL", reward_models["IQ-Learn"], cfg.rl_kappa),
                               ("REINFORCE-MTRec", reward_models["QR-IQL"], cfg.rl_kappa)):
        policy = train_policy(env, reward_model=model, kappa=kappa, iterations=cfg.rl_iterations,
                              seed=seed, max_threads=cfg.max_threads)
        result = dataclasses.asdict(evaluate_policy(env, policy, kappa=kappa, seed=seed))
        rows.append({"model": name, **result})
        logger.info("%s: %s", name, result)
    return rows


# ------------------------------------------------------------------------------ all of it
def run_mtrec_experiment(
    out_dir: str | os.PathLike[str], seed: int = 0, *, config: ExperimentConfig | None = None,
) -> dict[str, Any]:
    """Run the six experiments and write their tables and figure into ``out_dir``.

    Returns the summary (also written as ``summary.json``).
    """
    cfg = config or ExperimentConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = simulate_sessions(cfg, seed)
    logger.info("sessions: %d steps, train %d, test %d (%d users)", data.trajectories.height,
                data.train.height, data.test.height, data.test_users)
    reward_models = fit_reward_models(cfg, data.train, seed, gamma=cfg.gamma,
                                      item_categories=data.item_categories)
    rewards = {name: model.mental_rewards(data.trajectories)
               for name, model in reward_models.items()}
    for name, model in reward_models.items():
        logger.info("%s: %.1fs, final loss %.4f", name, model.fit_seconds_, model.loss_curve_[-1])

    table = alignment_table(cfg, seed, data, rewards)
    _write_frame(table, out / "mtrec_table.csv")
    atomic_write_text(out / "mtrec_table.md",
                      _markdown(table.select("model", "auc", "ncis", "ncis_base_shifted")))

    correlations = reward_correlations(data, rewards)
    _write_frame(correlations, out / "reward_correlations.csv")

    satisfaction: dict[str, Any] = {}
    if cfg.satisfaction_rows > 0:
        satisfaction = satisfaction_check(cfg, seed)
        _write_json(satisfaction, out / "satisfaction_check.json")

    by_step = mental_reward_by_step(data, rewards)
    _write_frame(by_step, out / "mental_reward_by_step.csv")
    _plot_by_step(by_step, out / "mental_reward_by_step.png")

    explicit = explicit_signal_check(cfg, seed)
    _write_json(explicit, out / "explicit_check.json")

    rl_rows = rl_variant(cfg, seed, data.environment, reward_models)
    if rl_rows:
        _write_frame(pl.DataFrame(rl_rows), out / "rl_variant.csv")

    summary = {
        "seed": seed,
        "config": cfg.to_dict(),
        "table": table.to_dicts(),
        "reward_correlations": correlations.to_dicts(),
        "satisfaction_check": satisfaction,
        "mental_reward_by_step": by_step.to_dicts(),
        "explicit_check": explicit,
        "rl_variant": rl_rows,
        "seconds": time.perf_counter() - started,
    }
    _write_json(summary, out / "summary.json")
    return summary

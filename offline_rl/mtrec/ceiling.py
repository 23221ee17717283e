"""What a perfect IQ-Learn reward model could show on the sessions simulator (no fitting).

With gamma = 0 and the chi^2 regulariser on logged actions, offline IQ-Learn (Problem 6 with
N = 1) decouples into one concave problem per state: with ``pi`` the users' true action
probabilities in state ``s``,

    max_Q  sum_a pi_a Q_a - logsumexp_a Q_a - sum_a pi_a Q_a^2 / (4 alpha),

and ``r*(s, a) = Q(s, a)``. :func:`iq_learn_state_rewards` solves it by Newton's method.
Feeding it the simulator's *true* ``P(click)`` gives the mental reward a reward model would
produce if it estimated the users' behaviour exactly; :func:`satisfaction_ceiling` reports the
Spearman correlation of that r* (and of its advantage ``r*(s, a^P) - r*(s, a^N)``) with the
hidden satisfaction, next to the click's, and again after adding noise to the true click logit
so that it correlates ``rho`` with the truth (how well a fitted model must estimate behaviour).

``python -m offline_rl.mtrec.ceiling [--seeds 0 1 2] [--rows 20000] [--bounce-slope K]`` prints
one JSON line per seed. With ``--held-out``, :func:`held_out_headroom` instead: the
satisfaction check's own held-out steps and reward models against a perfect r* on the same
steps (why a seed misses the check; docs/qriql.md). ``--bounce-slope`` adds a third action (docs/qriql.md): a click is
followed by a bounce with probability ``sigmoid(-K satisfaction)``; the actions become skip,
click-and-bounce, click-and-stay, and the best raw ordering of them (bounce < skip < stay) is
reported too, since r* then sees more than the click.

References: MTRec (mtrec-paper.txt) Problem 6, Eq. 7; docs/qriql.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np
import polars as pl

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.evaluation.auc import roc_auc
from offline_rl.mtrec.experiment import ExperimentConfig, _held_out
from offline_rl.mtrec.experiment import spearman as _spearman
from offline_rl.mtrec.protocol import fit_reward_models
from offline_rl.simulators import sessions as sessions_sim
from offline_rl.simulators.sessions import SessionEnvironment, SessionsConfig, run_sessions


def iq_learn_state_rewards(probs: np.ndarray, *, alpha: float = 0.5,
                           iterations: int = 60) -> np.ndarray:
    """r*(s, a) of the per-state gamma = 0 IQ-Learn optimum, float64 (n, K).

    ``probs`` (n, K) are the true action probabilities of n states. The objective is strictly
    concave when every ``probs`` entry is positive, so undamped Newton from Q = 0 converges;
    ``iterations`` is generous (the step is below 1e-10 after about 15).
    """
    pi = np.asarray(probs, dtype=np.float64)
    if pi.ndim != 2 or (pi <= 0).any() or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError("iq_learn_state_rewards: probs must be (n, K), positive, rows summing "
                         "to 1.")
    n, k = pi.shape
    q = np.zeros((n, k))
    eye = np.eye(k)
    for _ in range(iterations):
        z = q - q.max(axis=1, keepdims=True)
        soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        grad = pi - soft - pi * q / (2 * alpha)
        hess = -(soft[:, :, None] * eye - soft[:, :, None] * soft[:, None, :])
        hess -= pi[:, :, None] * eye / (2 * alpha)
        q = q - np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    return q


def satisfaction_ceiling(
    seed: int, *, rows: int = 20000, alpha: float = 0.5,
    noise_correlations: tuple[float, ...] = (0.95, 0.9, 0.8),
    bounce_slope: float | None = None, options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Spearman with the hidden satisfaction of the click and of a perfect gamma = 0 r*.

    The logged steps are exactly those of ``sessions.simulate(rows=rows, seed=seed,
    **options)`` (same environment and session draws).
    """
    config = SessionsConfig(**(options or {}))
    env = SessionEnvironment(config, seed=seed)
    steps = run_sessions(env, rows, np.random.default_rng([seed, 1]))
    p = np.clip(steps["click_probability"], 1e-9, 1 - 1e-9)
    click, satisfaction = steps["click"], steps["satisfaction"]
    out: dict[str, Any] = {"seed": seed, "rows": int(click.size),
                           "margin_2se": 2.0 / math.sqrt(max(click.size - 1, 1)),
                           "click": _spearman(click, satisfaction)}
    if bounce_slope is None:
        rewards = iq_learn_state_rewards(np.column_stack([1 - p, p]), alpha=alpha)
        logged = rewards[np.arange(click.size), click.astype(np.int64)]
        out["r_star_logged"] = _spearman(logged, satisfaction)
        out["r_star_advantage"] = _spearman(rewards[:, 1] - rewards[:, 0], satisfaction)
        logit = np.log(p) - np.log1p(-p)
        rng = np.random.default_rng([seed, 13])
        for rho in noise_correlations:
            # noisy = logit + e with corr(noisy, logit) = rho
            noisy = logit + rng.standard_normal(logit.size) * logit.std() * math.sqrt(
                1.0 / rho**2 - 1.0)
            q = 1.0 / (1.0 + np.exp(-noisy))
            r = iq_learn_state_rewards(np.column_stack([1 - q, q]), alpha=alpha)
            out[f"r_star_logged_rho_{rho}"] = _spearman(
                r[np.arange(click.size), click.astype(np.int64)], satisfaction)
        return out
    # Third action: what the user does after a click, decided on the satisfaction she got.
    c = config
    rng = np.random.default_rng([seed, 9])
    bounce = click & (rng.random(click.size) < 1.0 / (1.0 + np.exp(bounce_slope * satisfaction)))
    action = np.where(~click, 0, np.where(bounce, 1, 2))
    users, items = steps["user"], steps["item"]
    mean_satisfaction = (env.match[users, items] - c.bait_penalty * env.item_clickbait[items]
                         - c.satisfaction_fatigue * steps["step"])
    draws = np.random.default_rng([seed, 10]).standard_normal(256)
    p_bounce = (1.0 / (1.0 + np.exp(bounce_slope * (
        mean_satisfaction[:, None] + c.satisfaction_noise * draws[None, :])))).mean(axis=1)
    probs = np.clip(np.column_stack([1 - p, p * p_bounce, p * (1 - p_bounce)]), 1e-12, None)
    rewards = iq_learn_state_rewards(probs / probs.sum(axis=1, keepdims=True), alpha=alpha)
    out.update({
        "bounce_slope": bounce_slope,
        "bounce_rate_given_click": float(bounce[click].mean()),
        "stay": _spearman(action == 2, satisfaction),
        "bounce_lt_skip_lt_stay": _spearman(np.array([1, 0, 2])[action], satisfaction),
        "r_star_logged": _spearman(rewards[np.arange(click.size), action], satisfaction),
    })
    return out


def held_out_headroom(seed: int, config: ExperimentConfig | None = None) -> dict[str, Any]:
    """The satisfaction check's held-out steps, and how far above the click r* could get there.

    Same simulation, user split and reward models as
    :func:`offline_rl.mtrec.experiment.satisfaction_check` (``config.satisfaction_rows`` steps,
    ``config.satisfaction_gamma``). On the held-out steps: the click's Spearman correlation
    with the hidden satisfaction; that of a perfect gamma = 0 r* (the per-state optimum of
    the simulator's true ``P(click)``) and its ``headroom`` over the click; and per reward
    model its r*'s correlation, that as a share of the perfect one, and how well it estimated
    the users' behaviour (Pearson correlation of its ``r*(s,a^P) - r*(s,a^N)`` with the true
    click logit, its click AUC, its loss on these steps). Also the held-out set's size and
    mean session length.
    """
    cfg = config if config is not None else ExperimentConfig()
    sim = sessions_sim.simulate(rows=cfg.satisfaction_rows, seed=seed, **cfg.extra)
    logs = pl.from_arrow(sim.logs)
    # simulate() draws its steps exactly so: event_id is the step's row here
    steps = run_sessions(SessionEnvironment(SessionsConfig(**cfg.extra), seed=seed),
                         cfg.satisfaction_rows, np.random.default_rng([seed, 1]))
    fit, scored = _held_out(user_trajectories(drop_hidden_reward(logs)), seed, 8)
    rows = scored["event_id"].to_numpy()
    p = np.clip(steps["click_probability"][rows], 1e-9, 1 - 1e-9)
    click = steps["click"][rows].astype(np.int64)
    satisfaction = steps["satisfaction"][rows]
    perfect = iq_learn_state_rewards(np.column_stack([1 - p, p]))
    logit = np.log(p) - np.log1p(-p)
    sessions = pl.Series(steps["session"][rows]).value_counts()["count"]
    out: dict[str, Any] = {
        "seed": seed, "held_out_users": scored["user_id"].n_unique(), "held_out_steps": rows.size,
        "mean_session_length": float(sessions.mean()),
        "click": _spearman(click, satisfaction),
        "perfect_r_star": _spearman(perfect[np.arange(rows.size), click], satisfaction),
        "true_click_auc": roc_auc(click.astype(bool), logit),
    }
    out["headroom"] = out["perfect_r_star"] - out["click"]
    models = fit_reward_models(cfg, fit, seed, gamma=cfg.satisfaction_gamma,
                               item_categories=dict(enumerate(sim.truth["item_category"])))
    for name, model in models.items():
        rewards = model.mental_rewards(scored)
        advantage = (rewards["mental_reward_positive"] - rewards["mental_reward_negative"]).to_numpy()
        r_star = _spearman(rewards["mental_reward"], satisfaction)
        out[name] = {
            "r_star": r_star,
            "share_of_perfect": r_star / out["perfect_r_star"],
            "advantage_pearson_true_logit": float(np.corrcoef(advantage, logit)[0, 1]),
            "click_auc": roc_auc(click.astype(bool), advantage),
            "loss": model.loss(scored),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: one JSON line per seed on stdout."""
    parser = argparse.ArgumentParser(prog="python -m offline_rl.mtrec.ceiling",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--bounce-slope", type=float, default=None)
    parser.add_argument("--options", default="{}", help="sessions simulator options (JSON)")
    parser.add_argument("--held-out", action="store_true",
                        help="the satisfaction check's held-out steps and reward models "
                             "(--rows steps per seed, as satisfaction_rows)")
    args = parser.parse_args(argv)
    if args.held_out:
        config = ExperimentConfig(satisfaction_rows=args.rows, extra=json.loads(args.options))
        for seed in args.seeds:
            result = held_out_headroom(seed, config)
            sys.stdout.write(json.dumps(result, default=float) + "\n")
        return
    for seed in args.seeds:
        result = satisfaction_ceiling(seed, rows=args.rows, alpha=args.alpha,
                                      bounce_slope=args.bounce_slope,
                                      options=json.loads(args.options))
        sys.stdout.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                     for k, v in result.items()}) + "\n")


if __name__ == "__main__":
    main()

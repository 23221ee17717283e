"""Why does IGL-P(3)'s per-group result in the news experiment swing between seeds? (issue #11, B)

For each seed this fits, on the experiment's 60,000 uniform logged events, IGL-P(3)
(``angry`` oracle, the learner's defaults, alpha estimated unless ``--alpha`` is given; every
training row decoded out of fold), the two CBs, and the same policy class on the hidden reward
(the ceiling of the policy class: how well each reader group *can* be served in this
seed's world) and on rewards decoded by Eq. (4) from an ideal IK model (the Bayes posterior
from the simulator's truth: what IGL-P(3) would do with a perfect IK fit). Every policy is
scored per reader group, in expectation, on the same 30,000 fresh rounds, and the
diagnostics per seed and group are recorded: the IK fit's out-of-fold NLL and each fold
attempt's inner-validation NLL, the decoded precision and recall of r = +1 and of r = -1, the mean decoded
reward per true r, the share of extreme r = -1 events that are ``angry`` (the labelling
propensity the decoder's alpha stands for, per group), and how separable good and bad
posts are for the group (the spread of P(r = +1) over posts).

Usage::

    python benchmarks/igl_news_study.py --out runs/news_study [--seeds 0 1 ... 9] [--alpha A]

Writes ``groups.parquet`` (seed x policy x group) and ``diagnostics.parquet`` (seed x group).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from offline_rl.data.atomic import atomic_write_parquet
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import ik_training_set
from offline_rl.igl.bandit import RewardBandit
from offline_rl.igl.decoder import decode_rewards
from offline_rl.igl.experiments._common import rounds_frame
from offline_rl.igl.experiments.news import group_fractions, news_config
from offline_rl.igl.learner import IGLP
from offline_rl.simulators import simulate_logs
from offline_rl.simulators.news import EMOJI, GROUPS, NOISE_SCALE, REACTION_TABLE, VOCABULARY
from offline_rl.simulators.rewards import three_state_probabilities

logger = logging.getLogger("igl_news_study")


def ideal_k_p_hat(env, frame: pl.DataFrame) -> np.ndarray:
    """K * P(a | x, y, A) of the logged action under the Bayes posterior (simulator truth)."""
    users = frame["user_id"].to_numpy()
    groups = env.user_group[users]
    lists = frame["candidate_actions"].to_list()
    k_max = max(len(c) for c in lists)
    cand = np.zeros((len(lists), k_max), dtype=np.int64)
    mask = np.zeros((len(lists), k_max), dtype=bool)
    for i, c in enumerate(lists):
        cand[i, : len(c)] = c
        mask[i, : len(c)] = True
    states = np.stack(three_state_probabilities(
        env.mean_score[groups[:, None], cand], env.lower[groups][:, None],
        env.upper[groups][:, None], NOISE_SCALE), -1)
    signal = np.array([VOCABULARY.index(y) for y in frame["feedback"].to_list()])
    table = REACTION_TABLE[groups][np.arange(len(users)), :, signal]  # (n, 3)
    likelihood = np.where(mask, np.einsum("nkr,nr->nk", states, table), 0.0)
    post = likelihood / likelihood.sum(axis=1, keepdims=True)
    index = frame["action_index"].to_numpy()
    return mask.sum(axis=1) * post[np.arange(len(users)), index]


def run_seed(seed: int, alpha: float | None, rows: int, fresh_rows: int):
    sim = simulate_logs("news", rows=rows, seed=seed)
    env = sim.environment
    raw = pl.from_arrow(sim.logs)
    logs = drop_hidden_reward(raw)
    actions = pl.from_arrow(sim.actions)
    frame = ik_training_set(logs)
    hidden = frame.select("event_id").join(raw.select("event_id", "reward"), on="event_id",
                                           how="left")["reward"].to_numpy()
    feedback = frame["feedback"].to_numpy()
    config = news_config(seed, alpha=alpha)
    start = time.perf_counter()
    igl = IGLP(config)
    decoded = igl.fit_decode(frame, actions=actions)  # out of fold
    fit_seconds = time.perf_counter() - start
    alpha = igl.alpha_
    r_hat = decoded["decoded_reward"].to_numpy()
    extreme = decoded["is_extreme"].to_numpy()
    angry = decoded["definitely_negative"].to_numpy()
    ideal_k = ideal_k_p_hat(env, frame)
    ideal_r_hat = decode_rewards(ideal_k, angry, alpha=alpha)
    models = {
        "IGL-P(3)": igl,
        "CB-emoji": RewardBandit(config).fit(frame, np.isin(feedback, EMOJI).astype(float),
                                             actions=actions),
        "CB-comment": RewardBandit(config).fit(frame, (feedback == "comment").astype(float),
                                               actions=actions),
        "true reward": RewardBandit(config).fit(frame, hidden, actions=actions),
        "ideal IK, Eq. 4": RewardBandit(config).fit(frame, ideal_r_hat, actions=actions),
    }
    round_seq = np.random.SeedSequence([seed, 2]).spawn(4)[0]
    rounds = env.sample_rounds(fresh_rows, np.random.default_rng(round_seq))
    fresh = rounds_frame(rounds)
    group_rows = []
    for name, model in models.items():
        probs = np.zeros((len(rounds), rounds.max_candidates))
        p = model.predict_proba(fresh)
        probs[:, : p.shape[1]] = p
        for row in group_fractions(env, rounds, probs):
            group_rows.append({"seed": seed, "policy": name, **row})

    group_of_row = env.user_group[frame["user_id"].to_numpy()]
    p_neg, _, p_pos = three_state_probabilities(env.mean_score, env.lower[:, None],
                                                env.upper[:, None], NOISE_SCALE)
    restarts = igl.ik_restarts_
    diag = []
    for g, name in enumerate(GROUPS):
        m = group_of_row == g
        pos_hat, neg_hat = r_hat[m] > 0, r_hat[m] < 0
        pos, neg = hidden[m] > 0, hidden[m] < 0
        diag.append({
            "seed": seed,
            "group": name,
            "users": int((env.user_group == g).sum()),
            "events": int(m.sum()),
            "alpha": alpha,
            "ik_out_of_fold_nll": igl.ik_held_out_nll_,
            "ik_held_out_nll": [r.validation_nll for r in restarts],
            "ik_no_signal_nll": igl.ik_no_signal_nll_,
            "ik_fit_seconds": fit_seconds,
            "decoded_pos_precision": float(pos[pos_hat].mean()) if pos_hat.any() else np.nan,
            "decoded_pos_recall": float(pos_hat[pos].mean()),
            "decoded_neg_precision": float(neg[neg_hat].mean()) if neg_hat.any() else np.nan,
            "decoded_neg_recall": float(neg_hat[neg].mean()),
            "mean_r_hat_pos": float(r_hat[m][pos].mean()),
            "mean_r_hat_zero": float(r_hat[m][hidden[m] == 0].mean()),
            "mean_r_hat_neg": float(r_hat[m][neg].mean()),
            "ideal_mean_r_hat_pos": float(ideal_r_hat[m][pos].mean()),
            "ideal_mean_r_hat_neg": float(ideal_r_hat[m][neg].mean()),
            "extreme_neg_share_angry": float(angry[m][extreme[m] & neg].mean())
            if (extreme[m] & neg).any() else np.nan,
            "ideal_extreme_neg_share_angry": float(angry[m][(ideal_k[m] > 2) & neg].mean()),
            "p_pos_post_sd": float(p_pos[g].std()),
            "p_pos_post_q90": float(np.quantile(p_pos[g], 0.9)),
            "p_neg_post_q10": float(np.quantile(p_neg[g], 0.1)),
            "corr_pos_neg_over_posts": float(np.corrcoef(p_pos[g], p_neg[g])[0, 1]),
        })
    return group_rows, diag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--alpha", type=float, default=None,
                        help="Fixed alpha (default: estimated by the learner).")
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--fresh", type=int, default=30_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("offline_rl").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    groups_path, diag_path = args.out / "groups.parquet", args.out / "diagnostics.parquet"
    groups = pl.read_parquet(groups_path) if groups_path.exists() else None
    diags = pl.read_parquet(diag_path) if diag_path.exists() else None
    done = set() if diags is None else set(diags["seed"])
    for seed in args.seeds:
        if seed in done:
            continue
        start = time.perf_counter()
        g, d = run_seed(seed, args.alpha, args.rows, args.fresh)
        g, d = pl.DataFrame(g), pl.DataFrame(d)
        groups = g if groups is None else pl.concat([groups, g], how="diagonal_relaxed")
        diags = d if diags is None else pl.concat([diags, d], how="diagonal_relaxed")
        atomic_write_parquet(groups, groups_path)
        atomic_write_parquet(diags, diag_path)
        logger.info("seed %d done in %.0f s", seed, time.perf_counter() - start)


if __name__ == "__main__":
    main()

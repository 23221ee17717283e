"""Why does IGL-P(3) raise dislikes over the hand-engineered baseline? (issue #11, part C)

For each production-like world (``offline_rl.igl.experiments.worlds``) and seed this fits,
on the first half of 200,000 uniform logged events, the experiment's baseline (the
contextual bandit on click + 2 like - 2 dislike) and one IGL-P(3) model with the learner's
defaults (alpha estimated, ``IGL-P(3) learner, alpha estimated``); its cross-fitted IK
models are shared by every decoding below (the IK fit does not depend on alpha or on the
decoded values), and every decoding of a training row is out of fold (``fit_decode``). It
then fits the same policy class (``RewardBandit``) on several decoded rewards:

* ``paper a``: Eq. (4) with alpha = a: -1/a for a definitely-negative (DN) extreme event,
  +1 for another extreme event, 0 otherwise;
* ``unbiased a``: the unbiased positive-unlabelled value for DN extreme events, 1 - 2/a
  (a labelled example counts as the labelled class with weight 1/a and as the other class
  with weight 1 - 1/a), +1 and 0 as in Eq. (4): Eq. (4) at ``decoder.eq4_alpha(a)``;
* ``... learner's alpha``: the same at the learner's own estimate ``alpha_`` (no reward read);
* ``paper/unbiased, true extremes``: the same values with the extreme events taken from the
  hidden reward (r != 0) instead of the IK model -- a diagnosis that separates the IK
  model's detection errors from the value Eq. (4) gives a DN event; never a setting;
* ``true reward``: the policy class on the hidden r (the ceiling of this policy class).

Every policy is scored in expectation on the same 30,000 fresh rounds (``expected_rates``):
the rates of r = +1, r = -1, clicks, likes and dislikes, and the ratio of each to the
baseline's. Diagnostics of the IK fit: its out-of-fold NLL (and on the held-out half) against
the no-signal level and against the ideal IK model's; the fraction of dislikes decoded as
extreme, of clicks on r = -1 items decoded as extreme (then +1), the mean decoded reward per
true r, and the DN labelling propensity among extreme r = -1 events (truth) beside the
learner's Elkan & Noto (2008) estimate ``alpha_`` (no reward read).

Usage::

    python benchmarks/igl_production_study.py --out runs/production_study \
        [--seeds 0 1 2 3 4] [--worlds shipped ablations perturbed] [--rows 200000]

Writes ``study.parquet`` (one row per world, seed and policy) and ``diagnostics.parquet``
(one row per world and seed), appending as it goes (a rerun skips what is there).
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
from offline_rl.igl.decoder import eq4_alpha
from offline_rl.igl.experiments._common import rounds_frame
from offline_rl.igl.experiments.production import production_config
from offline_rl.igl.experiments.worlds import (
    PERTURBED_WORLDS,
    ProductionWorld,
    ablation_worlds,
    expected_rates,
    fresh_rounds,
)
from offline_rl.igl.learner import IGLP
from offline_rl.simulators.production import HAND_ENGINEERED_WEIGHTS

logger = logging.getLogger("igl_production_study")

ALPHAS = (0.1, 0.25, 0.5, 1.0)


def paper_values(extreme, negative, alpha):
    r = np.zeros(extreme.shape[0])
    r[extreme & ~negative] = 1.0
    r[extreme & negative] = -1.0 / alpha
    return r


def unbiased_values(extreme, negative, alpha):
    """1 - 2/alpha for a DN extreme event: Eq. (4) at ``eq4_alpha(alpha)``."""
    return paper_values(extreme, negative, eq4_alpha(alpha))


def ideal_posterior(env, frame: pl.DataFrame) -> np.ndarray:
    """The Bayes posterior P(a | x, y, A) under uniform play, from the simulator's truth
    (P(y | a, x) normalised over the row's candidates; the score noise integrated out):
    what a perfect IK model would output. (n, K) over each row's candidates."""
    from offline_rl.igl.experiments.worlds import SIGNALS, feedback_table_of
    from offline_rl.simulators.production import NOISE_SCALE
    from offline_rl.simulators.rewards import three_state_probabilities

    users = frame["user_id"].to_numpy()
    candidates = np.asarray(frame["candidate_actions"].to_list(), dtype=np.int64)
    states = np.stack(three_state_probabilities(
        env.mean_score[users[:, None], candidates], env.lower, env.upper, NOISE_SCALE), -1)
    signal = np.array([SIGNALS[y] for y in frame["feedback"].to_list()])
    table = feedback_table_of(env)[env.user_style[users]]  # (n, 3, V)
    likelihood = np.einsum("nkr,nr->nk", states, table[np.arange(len(users)), :, signal])
    return likelihood / likelihood.sum(axis=1, keepdims=True)


def ideal_k_p_hat(env, frame: pl.DataFrame) -> np.ndarray:
    post = ideal_posterior(env, frame)
    index = frame["action_index"].to_numpy()
    return post.shape[1] * post[np.arange(frame.height), index]


def held_out_nll(probs: np.ndarray, frame: pl.DataFrame) -> float:
    """Mean -log P(logged action) (the logs are uniform: every weight is 1)."""
    p = probs[np.arange(frame.height), frame["action_index"].to_numpy()]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def run_world(world: ProductionWorld, rows: int, fresh: int, alphas=ALPHAS) -> tuple[list, dict]:
    seed = world.seed
    env = world.environment()
    logs = pl.from_arrow(world.logs(env, rows))
    actions = pl.from_arrow(env.actions_table())
    frame = ik_training_set(drop_hidden_reward(logs))
    hidden = frame.select("event_id").join(logs.select("event_id", "reward"), on="event_id",
                                           how="left")["reward"].to_numpy()
    n_train = frame.height // 2
    train = frame[:n_train]
    r_train = hidden[:n_train]
    rounds = fresh_rounds(env, fresh, seed)
    fresh_frame = rounds_frame(rounds)

    def score(model) -> dict:
        return expected_rates(env, rounds, model.predict_proba(fresh_frame))

    results = []
    config = production_config(3, seed)
    hand = train["feedback"].replace_strict(HAND_ENGINEERED_WEIGHTS,
                                            return_dtype=pl.Float64).to_numpy()
    baseline = RewardBandit(config).fit(train, hand, actions=actions)
    results.append({"policy": "baseline", **score(baseline)})
    start = time.perf_counter()
    igl = IGLP(config)
    decoded = igl.fit_decode(train, actions=actions)  # out of fold
    ik_seconds = time.perf_counter() - start
    alpha_hat = igl.alpha_
    results.append({"policy": "IGL-P(3) learner, alpha estimated", **score(igl)})
    k_p_hat = decoded["k_p_hat"].to_numpy()
    extreme = decoded["is_extreme"].to_numpy()
    negative = decoded["definitely_negative"].to_numpy()
    true_extreme = r_train != 0

    def bandit(name, rewards):
        model = RewardBandit(config).fit(train, rewards, actions=actions)
        results.append({"policy": name, **score(model)})

    bandit("true reward", r_train)
    for alpha in alphas:
        bandit(f"paper {alpha}", paper_values(extreme, negative, alpha))
        if alpha != 1.0:
            bandit(f"unbiased {alpha}", unbiased_values(extreme, negative, alpha))
    ideal_train = ideal_k_p_hat(env, train) > 2.0
    for alpha in (0.25,):
        bandit(f"paper {alpha}, ideal IK", paper_values(ideal_train, negative, alpha))
        bandit(f"unbiased {alpha}, ideal IK", unbiased_values(ideal_train, negative, alpha))
    bandit("paper 0.25, DN always extreme", paper_values(extreme | negative, negative, 0.25))
    bandit("unbiased 0.25, DN always extreme",
           unbiased_values(extreme | negative, negative, 0.25))
    # the learner's own decoding through the RewardBandit path: differs from the learner's
    # policy only by the policy's initial weights (the size of that noise)
    bandit("paper, learner's alpha", paper_values(extreme, negative, alpha_hat))
    bandit("unbiased, learner's alpha", unbiased_values(extreme, negative, alpha_hat))
    bandit("paper, learner's alpha, ideal IK", paper_values(ideal_train, negative, alpha_hat))

    base = results[0]
    for row in results:
        row.update(world=world.name, seed=seed)
        for m in ("positive", "negative", "clicks", "likes", "dislikes"):
            row[f"{m}_ratio"] = row[f"{m}_rate"] / base[f"{m}_rate"]

    feedback = train["feedback"].to_numpy()
    clicks_bad = (feedback == "click") & (r_train < 0)
    paper = paper_values(extreme, negative, 0.25)
    test = frame[n_train:]
    ideal_k = ideal_k_p_hat(env, train)
    diag = {
        "world": world.name,
        "seed": seed,
        "describe": world.describe(),
        "ik_seconds": ik_seconds,
        "extreme_fraction": float(extreme.mean()),
        "true_extreme_fraction": float(true_extreme.mean()),
        "extreme_precision": float(true_extreme[extreme].mean()),
        "extreme_recall": float(extreme[true_extreme].mean()),
        "ik_nll_out_of_fold": igl.ik_held_out_nll_,
        "ik_found_signal": igl.ik_found_signal_,
        "ik_nll_held_out": held_out_nll(igl.ik_proba(test), test),
        "ideal_nll_held_out": held_out_nll(ideal_posterior(env, test), test),
        "no_signal_nll": float(np.log(test["candidate_actions"].list.len().to_numpy()).mean()),
        "ideal_extreme_fraction": float((ideal_k > 2).mean()),
        "ideal_extreme_precision": float(true_extreme[ideal_k > 2].mean()),
        "ideal_extreme_recall": float((ideal_k > 2)[true_extreme].mean()),
        "ideal_dislikes_extreme": float((ideal_k > 2)[negative].mean()),
        "ideal_bad_clicks_extreme": float((ideal_k > 2)[clicks_bad].mean()),
        "dislikes_extreme": float(extreme[negative].mean()),
        "bad_clicks_extreme": float(extreme[clicks_bad].mean()),
        "mean_k_p_hat_dislike": float(k_p_hat[negative].mean()),
        "decoded_mean_r_pos": float(paper[r_train > 0].mean()),
        "decoded_mean_r_zero": float(paper[r_train == 0].mean()),
        "decoded_mean_r_neg": float(paper[r_train < 0].mean()),
        "alpha_population": float((negative[r_train < 0]).mean()),
        "alpha_among_decoded_extremes": float(negative[extreme & (r_train < 0)].mean()),
        "alpha_estimate": alpha_hat,
    }
    return results, diag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--worlds", nargs="+", default=["shipped", "ablations", "perturbed"],
                        choices=["shipped", "ablations", "perturbed"])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--fresh", type=int, default=30_000)
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS),
                        help="Fixed alphas of the 'paper a' / 'unbiased a' decodings.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("offline_rl",):
        logging.getLogger(name).setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    worlds: list[ProductionWorld] = []
    if "shipped" in args.worlds:
        worlds += [ablation_worlds(s)[0] for s in args.seeds]
    if "ablations" in args.worlds:
        worlds += [w for s in args.seeds for w in ablation_worlds(s)[1:]]  # [0] is shipped
    if "perturbed" in args.worlds:
        worlds += list(PERTURBED_WORLDS)
    study_path, diag_path = args.out / "study.parquet", args.out / "diagnostics.parquet"
    study = pl.read_parquet(study_path) if study_path.exists() else None
    diags = pl.read_parquet(diag_path) if diag_path.exists() else None
    done = set() if diags is None else set(zip(diags["world"], diags["seed"], strict=True))
    for world in worlds:
        if (world.name, world.seed) in done:
            continue
        start = time.perf_counter()
        results, diag = run_world(world, args.rows, args.fresh, args.alphas)
        done.add((world.name, world.seed))
        new = pl.DataFrame(results)
        study = new if study is None else pl.concat([study, new], how="diagonal_relaxed")
        d = pl.DataFrame([diag])
        diags = d if diags is None else pl.concat([diags, d], how="diagonal_relaxed")
        atomic_write_parquet(study, study_path)
        atomic_write_parquet(diags, diag_path)
        logger.info("%s seed %d done in %.0f s", world.name, world.seed,
                    time.perf_counter() - start)
        with pl.Config(tbl_rows=40, tbl_cols=12, tbl_width_chars=220, float_precision=3):
            logger.info("\n%s\n%s", new.select("policy", "positive_rate", "negative_rate",
                                               "clicks_ratio", "likes_ratio", "dislikes_ratio"),
                        d)


if __name__ == "__main__":
    main()

"""The paper's experiments: helpers and claim logic (fast), tiny smoke runs (fast), and the
five-seed runs that assert every claim seed by seed (slow)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest

from offline_rl.igl.experiments._common import (
    claims_by_seed,
    min_median_max,
    paired_ratio_interval,
)
from offline_rl.igl.experiments.covertype import (
    run_covertype_experiment,
    split_contexts,
)

# ---------------------------------------------------------------------- helpers (fast)


def test_split_contexts_is_a_disjoint_cover_fixed_by_the_seed():
    train, test = split_contexts(1000, seed=3)
    assert test.size == 200 and train.size == 800
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1000))
    again, _ = split_contexts(1000, seed=3)
    other, _ = split_contexts(1000, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_min_median_max_over_seeds():
    table = pl.DataFrame({"algorithm": ["a", "a", "a", "b", "b"],
                          "x": [3.0, 1.0, 2.0, 5.0, 7.0], "y": [1, 1, 4, 0, 0]})
    ranges = min_median_max(table, ["x", "y"], by=["algorithm"])
    row = ranges.filter((pl.col("algorithm") == "a") & (pl.col("quantity") == "x")).row(
        0, named=True)
    assert (row["min"], row["median"], row["max"], row["seeds"]) == (1.0, 2.0, 3.0, 3)
    row = ranges.filter((pl.col("algorithm") == "b") & (pl.col("quantity") == "x")).row(
        0, named=True)
    assert row["median"] == 6.0


def test_claims_by_seed_lists_where_each_claim_holds_and_fails():
    claims = pl.DataFrame({"seed": [0, 1, 2, 0, 1, 2], "claim": ["c"] * 3 + ["d"] * 3,
                           "passed": [True, False, True, True, True, True]})
    out = {r["claim"]: r for r in claims_by_seed(claims).iter_rows(named=True)}
    assert out["c"]["holds_on"] == [0, 2] and out["c"]["fails_on"] == [1]
    assert out["d"]["fails"] == 0 and out["d"]["holds"] == 3


def test_paired_ratio_interval_point_and_width():
    rng = np.random.default_rng(0)
    b = rng.binomial(1, 0.2, 4000).astype(float)
    lo, point, hi = paired_ratio_interval(b, b)
    assert point == 1.0 and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    c = rng.binomial(1, 0.3, 4000).astype(float)
    lo, point, hi = paired_ratio_interval(c, b)
    assert point == pytest.approx(c.sum() / b.sum())
    # one round per cluster is the unclustered ratio-estimator variance
    var = ((c - point * b) ** 2).sum() / b.sum() ** 2 * 4000 / 3999
    assert hi - point == pytest.approx(1.959964 * np.sqrt(var), rel=1e-5)
    assert paired_ratio_interval(c, b, clusters=np.arange(4000)) == pytest.approx((lo, point, hi))


def test_paired_ratio_interval_widens_with_correlated_clusters():
    """Rounds of one user share how much the candidate helps that user: clustering by user
    must widen the interval (treating the rounds as independent understates the error)."""
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(200), 20)
    p = rng.beta(2, 8, 200)[users]
    effect = rng.lognormal(0.0, 0.6, 200)[users]
    b = rng.binomial(1, p).astype(float)
    c = rng.binomial(1, np.clip(effect * p, 0, 1)).astype(float)
    lo_iid, _, hi_iid = paired_ratio_interval(c, b)
    lo_user, _, hi_user = paired_ratio_interval(c, b, clusters=users)
    assert hi_user - lo_user > 1.3 * (hi_iid - lo_iid)


def test_paired_ratio_interval_covers_the_truth():
    """95% intervals of a known ratio (1.25) over 300 paired simulations, clustered by user:
    coverage within 3 binomial standard errors of 0.95 (0.95 +- 0.038)."""
    rng = np.random.default_rng(2)
    users = np.repeat(np.arange(150), 10)
    covered = 0
    for _ in range(300):
        base = rng.beta(2, 8, 150)[users]
        b = rng.binomial(1, base).astype(float)
        c = rng.binomial(1, 1.25 * base).astype(float)
        lo, _, hi = paired_ratio_interval(c, b, clusters=users)
        covered += lo <= 1.25 <= hi
    assert abs(covered / 300 - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 300)


# ---------------------------------------------------------------------- worlds (fast)


def test_expected_rates_match_sampled_outcomes():
    """The exact expected rates of a policy equal the sampled rates of the same policy on
    the same rounds, within sampling error (a wrong style row, reward column or signal
    index in expected_rates breaks this), also in a world with another feedback table."""
    from offline_rl.igl.experiments.worlds import (
        OTHER_TABLE,
        ProductionWorld,
        expected_rates,
        fresh_rounds,
    )
    from offline_rl.simulators import run_policy
    from offline_rl.simulators.policies import SoftmaxPolicy

    for world in (ProductionWorld("w", 0, {"n_items": 50, "n_candidates": 5, "n_users": 100}),
                  ProductionWorld("v", 1, {"n_items": 50, "n_candidates": 5, "n_users": 100},
                                  OTHER_TABLE)):
        env = world.environment()
        policy = SoftmaxPolicy(env.baseline_scores, temperature=0.3, epsilon=0.1)
        n = 60_000
        played = run_policy(env, policy, n, [world.seed, 2])
        rounds = fresh_rounds(env, n, world.seed)
        expected = expected_rates(env, rounds, policy(rounds))
        feedback = np.asarray(played.column("feedback").to_pylist())
        reward = played.column("reward").to_numpy()
        sampled = {"positive_rate": (reward > 0).mean(), "negative_rate": (reward < 0).mean(),
                   "clicks_rate": (feedback == "click").mean(),
                   "likes_rate": (feedback == "like").mean(),
                   "dislikes_rate": (feedback == "dislike").mean()}
        for key, value in sampled.items():
            se = np.sqrt(expected[key] * (1 - expected[key]) / n)
            assert abs(value - expected[key]) < 4 * se, (world.name, key, value, expected[key])


def test_expected_rates_under_uniform_play_are_the_calibrated_rates():
    from offline_rl.igl.experiments.worlds import ProductionWorld, expected_rates, fresh_rounds

    env = ProductionWorld("w", 5, {"n_items": 100, "n_candidates": 10}).environment()
    rounds = fresh_rounds(env, 40_000, 5)
    uniform = np.full((40_000, 10), 0.1)
    rates = expected_rates(env, rounds, uniform)
    assert rates["positive_rate"] == pytest.approx(0.10, abs=0.01)
    assert rates["negative_rate"] == pytest.approx(0.06, abs=0.01)


def test_world_with_another_table_keeps_users_items_and_rewards():
    """A world changes only what it names: the same seed draws the same users, items and
    reward thresholds; only the feedback (and the logging baseline's values) differ."""
    from offline_rl.igl.experiments.worlds import (
        NO_BAD_CLICKS_TABLE,
        ProductionWorld,
        check_feedback_table,
    )

    shipped = ProductionWorld("a", 7, {"n_items": 50, "n_candidates": 5}).environment()
    other = ProductionWorld("b", 7, {"n_items": 50, "n_candidates": 5},
                            NO_BAD_CLICKS_TABLE).environment()
    assert np.array_equal(shipped.mean_score, other.mean_score)
    assert (shipped.lower, shipped.upper) == (other.lower, other.upper)
    assert other.feedback_table[0, 0, 1] == 0.0  # no click at r = -1
    assert not np.allclose(shipped.state_value, other.state_value)
    bad = np.array(NO_BAD_CLICKS_TABLE)
    bad[0, 2] = [0.0, 0.5, 0.0, 0.5]  # a dislike at r = +1
    with pytest.raises(ValueError, match="dislike"):
        check_feedback_table(bad)


# ---------------------------------------------------------------------- claim logic (fast)


def _production_table(dislike3, dislike2, click3=(0.95, 1.0, 1.05), like3=(0.95, 1.0, 1.05)):
    rows = []
    for name, cells in (("IGL-P(3) a=0.25", {"clicks": click3, "likes": like3,
                                             "dislikes": dislike3}),
                        ("IGL-P(2)", {"clicks": (1, 1.1, 1.2), "likes": (0.8, 0.85, 0.9),
                                      "dislikes": dislike2})):
        for metric, (lo, pt, hi) in cells.items():
            rows.append({"algorithm": name, "metric": metric, "ope_lower": lo, "ope_point": pt,
                         "ope_upper": hi, "on_policy_lower": lo, "on_policy_point": pt,
                         "on_policy_upper": hi, "agree": True})
    return pl.DataFrame(rows)


def _production_claims(table):
    from offline_rl.igl.experiments.production import _claims

    return {row["claim"]: row["passed"] for row in _claims(table, (0.25,))}


def test_production_claims_pass_on_the_papers_table():
    """The paper's Table 1 (IGL-P(3) dislikes [0.751, 1.072, 1.274], IGL-P(2) [1.141, ...])
    passes every claim."""
    claims = _production_claims(_production_table((0.751, 1.072, 1.274), (1.341, 1.6, 2.0),
                                                  (0.999, 1.067, 1.152), (0.985, 1.029, 1.054)))
    assert all(claims.values()), claims


@pytest.mark.parametrize("dislike3, dislike2, failing", [
    ((1.1, 1.7, 2.6), (20, 30, 40), {"IGL-P(3) does not raise dislikes"}),
    ((0.7, 1.0, 1.3), (0.9, 1.2, 1.5), {"IGL-P(2) raises dislikes",
                                        "IGL-P(3) cuts IGL-P(2)'s dislikes"}),
    ((0.9, 1.5, 2.1), (2.0, 3.0, 4.0), {"IGL-P(3) cuts IGL-P(2)'s dislikes"}),
])
def test_production_claims_fail_where_the_numbers_say(dislike3, dislike2, failing):
    claims = _production_claims(_production_table(dislike3, dislike2))
    assert {name for name, ok in claims.items() if not ok} == failing


def test_production_near_baseline_claim_reads_the_lower_bound():
    claims = _production_claims(_production_table((0.7, 1.0, 1.3), (2, 3, 4),
                                                  click3=(0.84, 0.95, 1.0)))
    assert not claims["IGL-P(3) near baseline on clicks and likes"]


def test_news_fairness_table_and_claims():
    from offline_rl.igl.experiments.news import _claims, fairness_table

    def rows(name, pos, neg):
        return [{"seed": 0, "algorithm": name, "group": g, "positive_fraction": p,
                 "negative_fraction": q} for g, p, q in zip(("fox", "huffpost", "time"), pos, neg,
                                                             strict=True)]

    table = pl.DataFrame(rows("IGL-P(3) a=0.25", (0.24, 0.22, 0.23), (0.05, 0.07, 0.04))
                         + rows("CB-emoji", (0.05, 0.10, 0.23), (0.20, 0.17, 0.04))
                         + rows("CB-comment", (0.17, 0.10, 0.15), (0.13, 0.10, 0.08)))
    fair = {r["algorithm"]: r for r in fairness_table(table).iter_rows(named=True)}
    igl = fair["IGL-P(3) a=0.25"]
    assert igl["positive_spread"] == pytest.approx(0.02)
    assert igl["worst_positive"] == 0.22 and igl["worst_positive_group"] == "huffpost"
    assert igl["worst_negative"] == 0.07 and igl["worst_negative_group"] == "huffpost"
    claims = {c["claim"]: c["passed"] for c in _claims(fairness_table(table), (0.25,))}
    assert all(claims.values()), claims
    # a uniformly bad IGL-P(3): smallest spread, yet its worst group is worse off than the CBs'
    flat = pl.DataFrame(rows("IGL-P(3) a=0.25", (0.08, 0.08, 0.085), (0.15, 0.15, 0.15))
                        + rows("CB-emoji", (0.05, 0.10, 0.23), (0.20, 0.17, 0.04))
                        + rows("CB-comment", (0.17, 0.10, 0.15), (0.13, 0.10, 0.08)))
    claims = {c["claim"]: c["passed"] for c in _claims(fairness_table(flat), (0.25,))}
    assert claims == {"smaller spread": True, "worst-served group better off": False,
                      "best mean": False}


def test_fit_alpha_sensitivity_refits_the_policy_on_the_shared_out_of_fold_decoding(monkeypatch):
    """One IGL-P(3) fit with alpha estimated; each fixed alpha's policy is trained on Eq. (4)
    at that alpha of the *out-of-fold* decoding (not the ensemble's in-sample one), and
    learns to prefer the planted good items."""
    from igl_fixtures import GOOD_ITEMS, PLANTED_CONFIG, planted_actions, planted_frame

    from offline_rl.igl.bandit import RewardBandit
    from offline_rl.igl.config import IGLPConfig
    from offline_rl.igl.decoder import decode_rewards
    from offline_rl.igl.experiments._common import fit_alpha_sensitivity

    seen = []
    fit = RewardBandit.fit

    def spy(self, frame, rewards, **kwargs):
        seen.append((self.config.alpha, np.asarray(rewards)))
        return fit(self, frame, rewards, **kwargs)

    monkeypatch.setattr(RewardBandit, "fit", spy)
    frame = planted_frame()
    config = IGLPConfig(states=3, negative_signals=("dislike",), alpha=0.5, seed=0,
                        **PLANTED_CONFIG)
    result = fit_alpha_sensitivity(config, frame, (0.25, 1.0), actions=planted_actions())
    assert result.estimated.alpha_estimated_ and result.estimated.config.alpha is None
    assert list(result.models()) == ["IGL-P(3) a=0.25", "IGL-P(3) a=1", "IGL-P(3) a=est"]
    k_p_hat = result.decoded["k_p_hat"].to_numpy()
    negative = result.decoded["definitely_negative"].to_numpy()
    in_sample = result.estimated.decode(frame)["k_p_hat"].to_numpy()
    assert np.abs(k_p_hat - in_sample).max() > 0.05  # out of fold, not the ensemble's reading
    assert [alpha for alpha, _ in seen] == [0.25, 1.0]
    for alpha, rewards in seen:
        np.testing.assert_array_equal(rewards, decode_rewards(k_p_hat, negative, alpha=alpha))
        assert (rewards == -1 / alpha).sum() >= 20 and (rewards == 1).sum() >= 100
    rows = frame.filter(pl.col("candidate_actions").list.eval(
        pl.element().is_in(list(GOOD_ITEMS))).list.any())
    for model in result.fixed.values():
        assert np.isin(model.predict(rows), list(GOOD_ITEMS)).mean() > 0.8


# ---------------------------------------------------------------------- smoke (fast)

TINY = dict(ik_epochs=2, ik_warmup_epochs=1, policy_epochs=1)


def test_covertype_smoke(tmp_path, capsys, caplog):
    """The experiment runs end to end on a tiny budget, writes its figure and table, holds
    out contexts it never trained on, logs its summary (library code never prints), and
    fails its checks (a tiny budget cannot pass them)."""
    from offline_rl.igl.experiments.covertype import covertype_config

    config = covertype_config(0, ik_restarts=1, max_threads=1, **TINY)
    with caplog.at_level(logging.INFO, logger="offline_rl.igl.experiments"):
        result = run_covertype_experiment(tmp_path, 0, rows=3000, config=config)
    assert result.figure.is_file() and result.table_path.is_file()
    m = result.metrics
    assert (m["train_events"], m["holdout_events"]) == (2400, 600)
    assert (m["train_contexts"], m["holdout_contexts"]) == (12000, 3000)
    assert m["holdout_events_with_training_context"] == 0
    assert 0.4 < m["majority_rate"] < 0.6
    assert capsys.readouterr().out == ""
    summary = result.summary()
    assert "decoded_precision" in summary and summary in caplog.text
    assert not result.passed
    assert summary.endswith("FAILED: " + "; ".join(result.failures))
    assert any(r.levelname == "WARNING" and "FAILED:" in r.message for r in caplog.records)


def test_production_smoke(tmp_path):
    """Two seeds, two alphas, tiny budget: every table, claim and file is there, one claim
    row per (seed, claim, alpha), and the seed summary lists them."""
    from offline_rl.igl.experiments.production import run_production_seeds

    result = run_production_seeds(tmp_path, seeds=(0, 1), alphas=(0.25, 1.0), rows=6000,
                                  fresh_rows=1500, n_replicates=20, make_figure=False,
                                  config_overrides=TINY)
    igl = {"IGL-P(3) a=0.25", "IGL-P(3) a=1", "IGL-P(3) a=est", "IGL-P(2)"}
    assert set(result.table["algorithm"]) == igl
    assert result.table.height == 2 * 4 * 3
    assert set(result.latent["policy"]) == {"baseline", *igl}
    assert result.claims.height == 2 * (2 + 3 * 3)
    # every IGL-P(3) policy of a seed reads the one IK fit (alpha estimated); the baseline none
    seed0 = {r["policy"]: r for r in result.latent.filter(pl.col("seed") == 0).iter_rows(named=True)}
    est = seed0["IGL-P(3) a=est"]
    assert est["alpha_estimate"] is not None and est["ik_held_out_nll"] is not None
    for name in ("IGL-P(3) a=0.25", "IGL-P(3) a=1"):
        assert (seed0[name]["ik_held_out_nll"], seed0[name]["alpha_estimate"]) == (
            est["ik_held_out_nll"], est["alpha_estimate"])
    assert seed0["IGL-P(2)"]["alpha_estimate"] is None
    assert seed0["IGL-P(2)"]["ik_held_out_nll"] != est["ik_held_out_nll"]
    assert seed0["baseline"]["ik_held_out_nll"] is None
    assert result.claims.group_by("seed", "claim", "algorithm").len()["len"].max() == 1
    for name in ("production_seeds.parquet", "production_seeds_claims.parquet",
                 "production_seed1_latent.parquet"):
        assert (tmp_path / name).is_file()
    assert "Claims by seed" in result.summary()


def test_production_smoke_on_a_perturbed_world(tmp_path):
    from offline_rl.igl.experiments.production import run_production_experiment
    from offline_rl.igl.experiments.worlds import PERTURBED_WORLDS

    world = PERTURBED_WORLDS[4]
    result = run_production_experiment(tmp_path, alphas=(0.25,), rows=4000, fresh_rows=1000,
                                       n_replicates=20, make_figure=False,
                                       config_overrides=TINY, world=world)
    assert result.seed == world.seed >= 100 and result.world == world.name
    assert (tmp_path / "production_other_feedback_table_seed104.parquet").is_file()


@pytest.mark.filterwarnings("ignore::offline_rl.errors.NoSignalWarning")
def test_news_smoke(tmp_path):
    from offline_rl.igl.experiments.news import run_news_seeds

    result = run_news_seeds(tmp_path, seeds=(0, 1), alphas=(0.25,), rows=4000, fresh_rows=1500,
                            make_figure=False, config_overrides=TINY)
    assert result.table.height == 2 * 4 * 3  # seeds x algorithms x groups
    assert set(result.fairness.columns) >= {"positive_spread", "worst_positive",
                                             "worst_negative_group", "negative_mean"}
    assert result.claims.height == 2 * 3 * 2  # seeds x claims x (alpha 0.25, estimated)
    fractions = result.table["positive_fraction"].to_numpy()
    assert ((fractions > 0) & (fractions < 1)).all()
    assert (tmp_path / "news_seeds_claims.parquet").is_file()


# ---------------------------------------------------------------------- five seeds (slow)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_covertype_acceptance(tmp_path, seed):
    """Section 4.1 on 60k events, held-out contexts never seen in training: precision >=
    .90, F1 >= .85, policy >= .9 x oracle and >= .70 (majority class ~.49), purity 1.0
    (per-user reading) and >= .9 (raw 2-D embeddings), every seed."""
    result = run_covertype_experiment(tmp_path, seed, make_figure=False)
    assert result.passed, result.failures
    assert result.metrics["policy_reward_rate"] > result.metrics["majority_rate"] + 0.15


# Claims measured NOT to hold, seed by seed, with the reason found (docs/igl.md, Results).
# A claim listed here is tested as failing on that seed (strict xfail): if it starts to
# hold, the test says so and the docs must change with it.
_AGREE_REASON = ("measured (docs/igl.md, Production): one of 27 (policy, metric) cells per seed has "
                 "non-overlapping off- and on-policy intervals (seed 0: alpha = 1 dislikes, on-policy "
                 "[1.37, 2.55] vs SNIPS [0.75, 1.33]; seed 1: alpha estimated clicks, [0.968, 0.983] "
                 "vs [0.987, 1.020])")
_HARSH_REASON = ("measured (docs/igl.md, Production): alpha = 0.1 makes a dislike cost -10 and "
                 "gives up 8-14% of clicks; its noisier policy also raises dislikes on these seeds")
_FIXED_ALPHA_REASON = ("measured (docs/igl.md, Production): at this fixed alpha the on-policy "
                       "dislike ratio's lower bound is above 1 on this seed (expected-rate ratio "
                       "1.10-1.57); alpha estimated holds on every seed")
PRODUCTION_FAILS: dict[tuple[str, float | None, int], str] = {
    ("agree", None, 0): _AGREE_REASON,
    ("agree", None, 1): _AGREE_REASON,
    **{("IGL-P(3) cuts IGL-P(2)'s dislikes", 0.1, seed): _HARSH_REASON for seed in (1, 3)},
    **{("IGL-P(3) near baseline on clicks and likes", 0.1, seed): _HARSH_REASON
       for seed in (0, 1, 2, 3)},
    **{("IGL-P(3) does not raise dislikes", 0.1, seed): _HARSH_REASON for seed in (0, 1, 3)},
    **{("IGL-P(3) does not raise dislikes", 0.25, seed): _FIXED_ALPHA_REASON for seed in (0, 3)},
    ("IGL-P(3) does not raise dislikes", 0.5, 0): _FIXED_ALPHA_REASON,
    ("IGL-P(3) does not raise dislikes", 1.0, 0): _FIXED_ALPHA_REASON,
}
_SPREAD_REASON = (
    "measured (docs/igl.md, News): CB-comment serves every reader group about equally and "
    "modestly, so its spread is the smallest; IGL-P(3) serves fox and time readers well and "
    "huffpost readers worse")
_WORST_REASON = (
    "measured (docs/igl.md, News): huffpost readers are IGL-P(3)'s worst-served group; their "
    "bad posts draw haha/sad (not the angry oracle), which Eq. (4) with one alpha decodes as "
    "+1 (negative half; persists with an ideal IK model), and the IK fit finds few of their "
    "positives (positive half; seeds 1 and 4)")
#: (alpha, seeds) where "worst-served group better off" fails (None: alpha estimated).
_WORST_FAILS = {None: (1, 2, 4), 0.1: (2, 4), 0.25: (1, 2, 4), 0.5: (0, 1, 2, 4),
                1.0: (0, 1, 2, 4)}
NEWS_FAILS: dict[tuple[str, float | None, int], str] = {
    **{("smaller spread", alpha, seed): _SPREAD_REASON
       for alpha in (0.1, 0.25, 0.5, 1.0, None) for seed in (0, 1, 2, 3, 4)},
    **{("worst-served group better off", alpha, seed): _WORST_REASON
       for alpha, seeds in _WORST_FAILS.items() for seed in seeds},
}


@pytest.fixture(scope="module")
def production_seeds(tmp_path_factory):
    from offline_rl.igl.experiments.production import run_production_seeds

    return run_production_seeds(tmp_path_factory.mktemp("production"), make_figure=False)


@pytest.fixture(scope="module")
def news_seeds(tmp_path_factory):
    from offline_rl.igl.experiments.news import run_news_seeds

    return run_news_seeds(tmp_path_factory.mktemp("news"), make_figure=False)


def _alpha_id(claim, alpha) -> str:
    if claim == "agree":
        return "all"
    return "a_est" if alpha is None else f"a{alpha}"


def _claim_cases(claims, fails):
    cases = []
    for claim, alpha in claims:
        for seed in (0, 1, 2, 3, 4):
            reason = fails.get((claim, alpha, seed))
            marks = [pytest.mark.slow]
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cases.append(pytest.param(claim, alpha, seed, marks=marks,
                                      id=f"{claim}-{_alpha_id(claim, alpha)}-seed{seed}"))
    return cases


_PRODUCTION_CLAIMS = [("agree", None), ("IGL-P(2) raises dislikes", 1.0)] + [
    (claim, alpha) for alpha in (0.1, 0.25, 0.5, 1.0, None)
    for claim in ("IGL-P(3) cuts IGL-P(2)'s dislikes",
                  "IGL-P(3) near baseline on clicks and likes",
                  "IGL-P(3) does not raise dislikes")]
_NEWS_CLAIMS = [(claim, alpha) for alpha in (0.1, 0.25, 0.5, 1.0, None)
                for claim in ("smaller spread", "worst-served group better off", "best mean")]


def _claim_row(claims: pl.DataFrame, claim: str, alpha, seed: int) -> dict:
    match = claims.filter((pl.col("claim") == claim) & (pl.col("seed") == seed))
    match = match.filter(pl.col("alpha").is_null() if alpha is None else pl.col("alpha") == alpha)
    assert match.height == 1, (claim, alpha, seed)
    return match.row(0, named=True)


@pytest.mark.parametrize("claim, alpha, seed", _claim_cases(_PRODUCTION_CLAIMS, PRODUCTION_FAILS))
def test_production_claim(production_seeds, claim, alpha, seed):
    """Section 4.3 on the shipped simulator, five seeds, every alpha: each claim as measured."""
    row = _claim_row(production_seeds.claims, claim, alpha, seed)
    assert row["passed"], row["detail"]


@pytest.mark.parametrize("claim, alpha, seed", _claim_cases(_NEWS_CLAIMS, NEWS_FAILS))
def test_news_claim(news_seeds, claim, alpha, seed):
    """Section 4.2, five seeds, every alpha: each claim as measured."""
    row = _claim_row(news_seeds.claims, claim, alpha, seed)
    assert row["passed"], row["detail"]

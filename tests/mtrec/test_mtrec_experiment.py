"""Helpers of the MTRec experiment: Spearman, the CTR-level controls, the seed summary."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offline_rl.evaluation.auc import roc_auc
from offline_rl.mtrec.controls import shift_logits, shift_to_mean, shift_to_mean_log
from offline_rl.mtrec.experiment import spearman
from offline_rl.mtrec.protocol import split_users, summarise_seeds, table_markdown


def test_spearman_matches_scipy_definition():
    a = np.array([1.0, 2.0, 2.0, 5.0, 3.0])
    b = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    ranks_a = np.array([1, 2.5, 2.5, 5, 4])
    expected = np.corrcoef(ranks_a, np.arange(1, 6))[0, 1]
    assert spearman(a, b) == pytest.approx(expected)
    assert np.isnan(spearman(np.ones(4), b[:4]))


def test_shift_logits_hand_value():
    # logit(0.5) = 0, so the shift's sigmoid; logit(0.2) = -log 4
    assert shift_logits(np.array([0.5]), np.log(3.0))[0] == pytest.approx(0.75)
    assert shift_logits(np.array([0.2]), np.log(4.0))[0] == pytest.approx(0.5)


def test_shift_to_mean_hits_the_target_and_keeps_the_ranking():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.05, 0.95, 500)
    shifted = shift_to_mean(probs, 0.7)
    assert shifted.mean() == pytest.approx(0.7, abs=1e-9)
    labels = rng.random(500) < probs
    assert roc_auc(labels, shifted) == roc_auc(labels, probs)
    # one common shift: the logit differences are unchanged
    logit = np.log(probs / (1 - probs))
    moved = np.log(shifted / (1 - shifted))
    np.testing.assert_allclose(moved - logit, (moved - logit)[0], atol=1e-7)
    # constant probabilities go straight to the target
    np.testing.assert_allclose(shift_to_mean(np.full(4, 0.3), 0.6), 0.6, atol=1e-9)


def test_shift_to_mean_log_matches_what_ncis_sums():
    rng = np.random.default_rng(1)
    probs = rng.uniform(1e-4, 0.9, 300)
    other = rng.uniform(0.2, 0.99, 300)
    target = np.log(np.clip(other, 1e-6, 1)).mean()
    shifted = shift_to_mean_log(probs, target, floor=1e-6)
    assert np.log(np.clip(shifted, 1e-6, 1)).mean() == pytest.approx(target, abs=1e-9)
    # it is not the mean-CTR control: same mean log p, a different mean p
    assert shifted.mean() != pytest.approx(other.mean(), abs=1e-3)
    np.testing.assert_allclose(shift_to_mean_log(np.full(3, 0.5), np.log(0.8)), 0.8, atol=1e-9)
    with pytest.raises(ValueError, match="mean log-probability < 0"):
        shift_to_mean_log(probs, 0.1)
    with pytest.raises(ValueError, match=r"mean probability in \(0, 1\)"):
        shift_to_mean(probs, 1.0)


def test_split_users_is_seeded_and_disjoint():
    users = [f"u{i}" for i in range(50)] * 2
    kept, held = split_users(users, 0.1, [3, 7])
    assert len(held) == 5 and len(kept) == 45 and not set(kept) & set(held)
    assert split_users(users[::-1], 0.1, [3, 7]) == (kept, held)  # order of input irrelevant
    assert split_users(users, 0.1, [4, 7])[1] != held


def _table(auc_diffs, marks):
    rows = [{"model": "DIN", "reward_model": "none", "kappa": 0.0, "standardize_rewards": None,
             "auc": 0.7, "ncis": 0.3}]
    for name, diff, mark in zip(("DIN-IRL", "DIN-MTRec"), auc_diffs, marks, strict=True):
        row = {"model": name, "reward_model": "x", "kappa": 0.2, "standardize_rewards": True,
               "auc": 0.7 + diff, "ncis": 0.3}
        for prefix in ("auc_diff", "ncis_diff", "ncis_minus_ctr_control",
                       "ncis_minus_logp_control"):
            row.update({prefix: diff, f"{prefix}_lower": diff - 0.001,
                        f"{prefix}_upper": diff + 0.001, f"{prefix}_significant": mark})
        rows.append(row)
    return pl.DataFrame(rows)


def test_summary_over_seeds_counts_significant_cells():
    tables = {0: _table([-0.002, 0.001], ["lower", ""]),
              1: _table([-0.004, 0.003], ["lower", "higher"]),
              2: _table([0.0005, 0.002], ["", "higher"])}
    summary = summarise_seeds(tables)
    assert summary["model"].to_list() == ["DIN-IRL", "DIN-MTRec"]
    irl = summary.row(0, named=True)
    assert (irl["auc_diff_min"], irl["auc_diff_median"], irl["auc_diff_max"]) == pytest.approx(
        (-0.004, -0.002, 0.0005))
    assert (irl["auc_diff_higher"], irl["auc_diff_lower"]) == (0, 2)
    mtrec = summary.row(1, named=True)
    assert (mtrec["auc_diff_higher"], mtrec["auc_diff_lower"], mtrec["seeds"]) == (2, 0, 3)


def test_markdown_marks_significant_cells():
    text = table_markdown(_table([-0.002, 0.001], ["lower", "higher"]))
    lines = text.splitlines()
    assert lines[2].startswith("| DIN |")
    assert "-0.0020 [-0.0030, -0.0010] ▼" in lines[3]
    assert "+0.0010 [+0.0000, +0.0020] ▲" in lines[4]

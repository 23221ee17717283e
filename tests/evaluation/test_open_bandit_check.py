"""Real data: BTS's click rate estimated from OBD's uniform-random logs vs BTS's own logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offline_rl.evaluation.open_bandit_check import bts_from_random_check

DATASET = Path(__file__).resolve().parents[2] / "datasets" / "open-bandit"


@pytest.mark.skipif(
    not (DATASET / "bts" / "all.csv.gz").exists(), reason="Open Bandit sample not shipped"
)
def test_bts_estimated_from_random_logs_agrees_with_its_on_policy_rate():
    check = bts_from_random_check(DATASET)
    # recorded values (docs/evaluation.md): on-policy 0.0042, IPS 0.00504, SNIPS 0.00525
    assert check["n_random"] == check["n_bts"] == 10_000
    assert check["bts_on_policy"] == pytest.approx(0.0042)
    for estimator in ("ips", "snips"):
        combined = np.hypot(check[f"{estimator}_se"], check["bts_on_policy_se"])
        # within 3 standard errors of the difference (independent samples)
        assert abs(check[estimator] - check["bts_on_policy"]) <= 3 * combined
    assert check["ess"] > 1000


@pytest.mark.skipif(
    not (DATASET / "random" / "all.csv.gz").exists(), reason="Open Bandit sample not shipped"
)
def test_greedy_lift_on_38_clicks_is_flagged_unreliable():
    """Issue #12: an epsilon-greedy policy on an item with 0 clicks in 113 impressions was
    reported as a lift of [-0.958, -0.951, -0.942], a +-0.8-point interval from 38 clicks."""
    from offline_rl.evaluation.open_bandit_check import greedy_lift_check

    row = greedy_lift_check(DATASET, n_replicates=200)
    assert (row["greedy_item"], row["greedy_impressions"], row["greedy_clicks"]) == (51, 113, 0)
    assert row["n"] == 10_000 and row["logged_value"] == pytest.approx(0.0038)
    assert row["point"] == pytest.approx(-0.945, abs=0.001)
    assert row["reliable"] is False
    assert "large weights sit on events without a positive" in row["reliability_reason"]
    assert row["effective_positives"] < 0.1
    assert row["max_weight"] == pytest.approx(76.05)
    assert (row["baseline_ess"], row["baseline_max_weight"]) == (10_000.0, 1.0)

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

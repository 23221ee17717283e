"""The per-state gamma = 0 IQ-Learn optimum and the satisfaction ceiling built on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offline_rl.mtrec.ceiling import iq_learn_state_rewards, main, satisfaction_ceiling


def test_state_rewards_match_the_first_order_conditions():
    probs = np.array([[0.5, 0.5], [0.3, 0.7], [0.1, 0.9], [0.01, 0.99], [0.25, 0.75]])
    q = iq_learn_state_rewards(probs, alpha=0.5)
    soft = np.exp(q) / np.exp(q).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs - soft - probs * q, 0.0, atol=1e-10)
    # docs/qriql.md's table (solved there with Adam): p = 0.7 -> r*(click) 0.132, r*(skip) -0.307
    assert q[1] == pytest.approx([-0.307, 0.132], abs=2e-3)
    assert q[0] == pytest.approx([0.0, 0.0], abs=1e-12)
    # E_pi[r*] = 0 in every state: shifting Q by a constant only costs chi^2
    np.testing.assert_allclose((probs * q).sum(axis=1), 0.0, atol=1e-10)


def test_state_rewards_three_actions_and_bad_input():
    q = iq_learn_state_rewards(np.array([[0.2, 0.3, 0.5]]))
    assert q[0, 0] < q[0, 1] < q[0, 2]
    with pytest.raises(ValueError, match="positive, rows summing to 1"):
        iq_learn_state_rewards(np.array([[0.0, 1.0]]))


def test_satisfaction_ceiling_runs_and_is_seeded():
    small = {"n_users": 30, "n_items": 40}
    first = satisfaction_ceiling(0, rows=800, options=small)
    assert first == satisfaction_ceiling(0, rows=800, options=small)
    assert set(first) >= {"click", "r_star_logged", "r_star_advantage", "margin_2se"}
    three = satisfaction_ceiling(0, rows=800, options=small, bounce_slope=2.0)
    assert three["click"] == first["click"]
    # the bounce is decided on the satisfaction itself, so ordering bounce < skip < stay
    # tracks it far better than the click (docs/qriql.md: 0.73-0.77 against 0.03-0.08)
    assert three["bounce_lt_skip_lt_stay"] > three["click"] + 0.2
    assert 0 < three["bounce_rate_given_click"] < 1


def test_main_writes_one_json_line_per_seed(capsys):
    main(["--seeds", "0", "1", "--rows", "300", "--options", '{"n_users": 30, "n_items": 40}'])
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1]


def test_held_out_headroom_scores_the_satisfaction_checks_own_steps_and_models():
    """Same steps, split and fits as satisfaction_check: its click and r* correlations come
    back unchanged; the perfect r* is the per-state optimum of the true P(click) there."""
    from offline_rl.mtrec.ceiling import held_out_headroom
    from offline_rl.mtrec.experiment import ExperimentConfig, satisfaction_check

    config = ExperimentConfig(satisfaction_rows=1500, reward_steps=3, reward_batch_size=256,
                              extra={"n_users": 30, "n_items": 40})
    check = satisfaction_check(config, 1)
    headroom = held_out_headroom(1, config)
    assert headroom["held_out_steps"] == check["rows"]
    assert headroom["click"] == pytest.approx(check["click"], abs=1e-12)
    for name in ("QR-IQL", "IQ-Learn"):
        assert headroom[name]["r_star"] == pytest.approx(check[name]["r_star"], abs=1e-12)
        assert headroom[name]["share_of_perfect"] == pytest.approx(
            headroom[name]["r_star"] / headroom["perfect_r_star"])
    assert headroom["headroom"] == pytest.approx(headroom["perfect_r_star"] - headroom["click"])
    # a perfect model of P(click) beats the click itself on this simulator (docs/qriql.md)
    assert headroom["perfect_r_star"] > headroom["click"]
    assert 0.5 < headroom["true_click_auc"] < 1

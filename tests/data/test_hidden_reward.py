"""The simulation-only reward column never reaches a learner."""

from __future__ import annotations

import pytest

from offline_rl.data.hidden_reward import assert_no_hidden_reward, drop_hidden_reward
from offline_rl.data.loading import load_logs
from offline_rl.data.prepare import ik_training_set, user_trajectories
from offline_rl.errors import HiddenRewardError


def test_learner_guard_refuses_the_hidden_reward(log_file):
    frame = load_logs(log_file)
    assert "reward" in frame.columns
    with pytest.raises(HiddenRewardError, match="IGLP.fit was given the column 'reward'"):
        assert_no_hidden_reward(frame, learner="IGLP.fit")
    assert_no_hidden_reward(drop_hidden_reward(frame), learner="IGLP.fit")
    assert_no_hidden_reward(drop_hidden_reward(frame.to_arrow()), learner="IGLP.fit")


def test_sql_marts_never_carry_the_hidden_reward(log_file):
    frame = load_logs(log_file)
    assert "reward" not in ik_training_set(frame).columns
    assert "reward" not in user_trajectories(frame).columns

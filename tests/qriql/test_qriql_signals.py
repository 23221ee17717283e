"""The user_trajectories job maps every feedback signal to a response it was told about: a
signal in neither list is an error naming it (it used to count as positive, silently)."""

from __future__ import annotations

import polars as pl
import pytest

from offline_rl.config import ConfigError
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import PrepareConfig, prepare, user_trajectories


@pytest.fixture(scope="module")
def renamed(logs) -> pl.DataFrame:
    """The sessions logs with 'skip' renamed 'skipped' (once: 1500 of 1500 rows positive)."""
    return drop_hidden_reward(logs).with_columns(feedback=pl.col("feedback").replace({"skip": "skipped"}))


def test_an_undeclared_signal_stops_the_trajectory_job(renamed):
    with pytest.raises(ValueError, match=r"column 'feedback': signal\(s\) \['skipped'\] are in neither "
                                         r"positive_signals \[.*'click'.*\] nor negative_signals"):
        user_trajectories(renamed)


def test_declared_signals_map_to_their_responses(renamed):
    config = PrepareConfig(negative_signals=("skipped",), positive_signals=("click",))
    trajectories = user_trajectories(renamed, config=config)
    assert (trajectories["response"] == (trajectories["feedback"] == "click").cast(pl.Int64)).all()
    assert 0 < trajectories["response"].sum() < trajectories.height


def test_the_ik_training_set_alone_needs_no_signal_map(renamed, tmp_path):
    """IGL-P learns what signals mean: only the trajectory mart needs them declared."""
    result = prepare(renamed, tmp_path, marts=["ik_training_set"])
    assert result.rows["ik_training_set"] == renamed.height


def test_a_signal_cannot_be_both():
    with pytest.raises(ConfigError, match=r"'positive_signals' parameter of PrepareConfig must be disjoint "
                                          r"from negative_signals"):
        PrepareConfig(negative_signals=("skip",), positive_signals=("click", "skip"))

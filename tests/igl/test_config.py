"""IGLPConfig: validation messages and JSON round trip."""

from __future__ import annotations

import json

import pytest

from offline_rl.igl.config import IGLPConfig


def test_round_trip():
    config = IGLPConfig(states=3, negative_signals=("dislike",), alpha=0.5, seed=3)
    data = json.loads(json.dumps(config.to_dict()))
    assert IGLPConfig.from_dict(data) == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"states": 4}, "'states' parameter of IGLPConfig must be 2 or 3. Got 4"),
        ({"negative_signals": ("dislike",)}, "empty when states == 2"),
        ({"states": 3, "negative_signals": "dislike"}, "must be a tuple"),
        ({"states": 3, "alpha": 0.0}, "'alpha' parameter"),
        ({"alpha": 0.5}, "1.0 when states == 2"),
        ({"exploration": "ucb"}, "'exploration' parameter .* Got 'ucb'"),
        ({"ik_restarts": 0}, "'ik_restarts' parameter of IGLPConfig must be an int >= 1"),
        ({"validation_fraction": 1.0}, "'validation_fraction'"),
        ({"policy_weighting": "clipped"}, "'policy_weighting'"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IGLPConfig(**kwargs)


def test_unknown_field():
    with pytest.raises(ValueError, match="Unknown IGLPConfig field"):
        IGLPConfig.from_dict({"sates": 2})

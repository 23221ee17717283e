"""Fixtures for the IGL-P tests: a small Covertype IGL problem and a fitted learner."""

from __future__ import annotations

import pytest
from igl_fixtures import SMALL_CONFIG, small_covertype

from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import IGLP


@pytest.fixture(scope="session")
def covertype_small():
    return small_covertype()


@pytest.fixture(scope="session")
def fitted_small(covertype_small):
    """(model, its training rows decoded out of fold)."""
    _, frame, _ = covertype_small
    model = IGLP(IGLPConfig(seed=0, **SMALL_CONFIG))
    return model, model.fit_decode(frame)

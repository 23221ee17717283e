"""Small trajectories from the sessions simulator, shared by the QR-IQL tests."""

from __future__ import annotations

import polars as pl
import pytest

from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import user_trajectories
from offline_rl.qriql import QRIQLConfig
from offline_rl.simulators.sessions import simulate

SMALL = dict(steps=15, batch_size=256, embedding_dim=8, hidden_dim=16, quantiles=4)


@pytest.fixture(scope="session")
def session_sim():
    return simulate(rows=1500, seed=3, n_users=40, n_items=60)


@pytest.fixture(scope="session")
def logs(session_sim) -> pl.DataFrame:
    return pl.from_arrow(session_sim.logs)


@pytest.fixture(scope="session")
def trajectories(logs) -> pl.DataFrame:
    return user_trajectories(drop_hidden_reward(logs))


@pytest.fixture(scope="session")
def categories(session_sim) -> dict[int, int]:
    return dict(enumerate(session_sim.truth["item_category"]))


@pytest.fixture
def small_config() -> QRIQLConfig:
    return QRIQLConfig(**SMALL)

"""QR-IQL streamed from Parquet: row group by row group, memory bounded by the buffer, the same
vocabulary, held-out loss and rewards as the frame in memory (issue #13 item 4)."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import SMALL
from polars.testing import assert_frame_equal

from offline_rl.errors import HiddenRewardError
from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.qriql import batches as batches_module
from offline_rl.qriql.features import TrajectoryArrays
from offline_rl.runtime import Checkpointing, ParquetRowGroups

GROUP = 100
STREAMED = {**SMALL, "steps": 20, "stream_buffer_rows": 300, "validation_fraction": 0.25,
            "validation_every": 5}


@pytest.fixture(scope="module")
def parquet(trajectories, tmp_path_factory):
    path = tmp_path_factory.mktemp("streamed") / "user_trajectories.parquet"
    pq.write_table(trajectories.to_arrow(), path, row_group_size=GROUP)
    return path


@pytest.fixture(scope="module")
def streamed(parquet):
    return QRIQL(QRIQLConfig(**STREAMED)).fit(ParquetRowGroups(parquet))


def test_streamed_fit_learns_what_the_frame_would(streamed, trajectories):
    in_memory = QRIQL(QRIQLConfig(**STREAMED)).fit(trajectories)
    assert streamed.items_ == in_memory.items_
    assert (streamed.history_length_, streamed.context_dim_) == (in_memory.history_length_, in_memory.context_dim_)
    assert (streamed.n_rows_, streamed.n_validation_rows_) == (in_memory.n_rows_, in_memory.n_validation_rows_)
    assert [s for s, _ in streamed.validation_curve_] == [5, 10, 15, 20]


def test_loss_and_rewards_read_from_parquet_equal_the_frames(streamed, parquet, trajectories, tmp_path):
    assert streamed.loss(ParquetRowGroups(parquet)) == pytest.approx(streamed.loss(trajectories), rel=1e-6)
    path = streamed.write_mental_rewards(ParquetRowGroups(parquet), tmp_path / "rewards.parquet")
    assert pq.ParquetFile(path).num_row_groups == pq.ParquetFile(parquet).num_row_groups
    assert_frame_equal(pl.read_parquet(path), streamed.mental_rewards(trajectories))


def test_streamed_fit_is_deterministic(streamed, parquet):
    again = QRIQL(QRIQLConfig(**STREAMED)).fit(ParquetRowGroups(parquet))
    assert again.loss_curve_ == streamed.loss_curve_
    assert again.validation_curve_ == streamed.validation_curve_


def test_memory_is_one_buffer_and_one_row_group(parquet, monkeypatch):
    """Each read is one row group; a buffer never holds more than buffer_rows + one row group."""
    reads, buffers = [], []
    real_read, real_concat = ParquetRowGroups.read, TrajectoryArrays.concat

    def read(self, group, columns=None):
        table = real_read(self, group, columns)
        reads.append(table.num_rows)
        return table

    def concat(parts):
        joined = real_concat(parts)
        buffers.append(len(joined))
        return joined

    monkeypatch.setattr(ParquetRowGroups, "read", read)
    monkeypatch.setattr(batches_module.TrajectoryArrays, "concat", staticmethod(concat))
    QRIQL(QRIQLConfig(**{**STREAMED, "steps": 40, "batch_size": 128})).fit(ParquetRowGroups(parquet))
    assert reads and max(reads) <= GROUP
    assert buffers and max(buffers) <= 300 + GROUP
    total = pq.ParquetFile(parquet).metadata.num_rows
    assert sum(reads) > total  # several epochs went by, none of them whole in memory


def test_a_killed_streamed_fit_resumes_to_the_same_model(parquet, tmp_path, streamed, monkeypatch):
    checkpointing = Checkpointing(tmp_path, every=6, resume=True)
    real = batches_module.StreamedBatches.next_batch
    calls = {"n": 0}

    def dying(self):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return real(self)

    with monkeypatch.context() as patch:
        patch.setattr(batches_module.StreamedBatches, "next_batch", dying)
        with pytest.raises(KeyboardInterrupt):
            QRIQL(QRIQLConfig(**STREAMED)).fit(ParquetRowGroups(parquet), checkpointing=checkpointing)
    resumed = QRIQL(QRIQLConfig(**STREAMED)).fit(ParquetRowGroups(parquet), checkpointing=checkpointing)
    assert resumed.loss_curve_ == streamed.loss_curve_
    assert resumed.validation_curve_ == streamed.validation_curve_
    for name, value in streamed.network_.state_dict().items():
        assert bool((resumed.network_.state_dict()[name] == value).all()), name


def test_a_parquet_without_a_trajectory_column_is_named(trajectories, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(trajectories.drop("done").to_arrow(), path)
    with pytest.raises(ValueError, match=r"t.parquet: unable to find column\(s\) \['done'\]"):
        QRIQL(QRIQLConfig(**SMALL)).fit(ParquetRowGroups(path))


def test_a_parquet_with_the_hidden_reward_is_refused(trajectories, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(trajectories.with_columns(reward=pl.lit(1.0)).to_arrow(), path)
    with pytest.raises(HiddenRewardError, match="QRIQL.fit was given the column 'reward'"):
        QRIQL(QRIQLConfig(**SMALL)).fit(ParquetRowGroups(path))

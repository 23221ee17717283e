"""offline_rl.runtime: device choice, thread default, process group, sharded Parquet,
rank-0 writes and checkpoints (the pieces every torch learner shares; docs/scale.md)."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from offline_rl import runtime
from offline_rl.runtime import (
    Checkpointing,
    ParquetRowGroups,
    World,
    atomic_parquet_writer,
    default_threads,
    load_checkpoint,
    on_main_rank,
    process_group,
    resolve_device,
    save_checkpoint,
    torch_threads,
)


# ------------------------------------------------------------------------------------ devices
def test_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("meta") == torch.device("meta")


def test_auto_and_cuda_take_the_local_ranks_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_cuda_without_cuda_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' was asked for, but torch.cuda.is_available\(\) is False"):
        resolve_device("cuda")


def test_unknown_device_is_named():
    with pytest.raises(ValueError, match=r"device must be one of \['auto', 'cpu', 'cuda'\].*got 'tpu'"):
        resolve_device("tpu")


# ------------------------------------------------------------------------------------ threads
@pytest.mark.parametrize(("cores", "processes", "expected"), [
    (1, 1, 1), (2, 1, 1), (3, 1, 2), (5, 1, 4), (64, 1, 4), (8, 2, 3), (4, 4, 1),
])
def test_default_threads_rule(monkeypatch, cores, processes, expected):
    """min(4, cores per process - 1), at least 1: one thread on a 2-core machine."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "usable_cores", lambda: cores)
    assert default_threads(local_world_size=processes) == expected


def test_omp_num_threads_is_the_users_choice(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(runtime, "usable_cores", lambda: 64)
    assert default_threads(local_world_size=1) == 3


def test_usable_cores_is_at_most_the_cpu_count():
    assert 1 <= runtime.usable_cores() <= (os.cpu_count() or 1)


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1) as used:
        assert used == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------------------------ processes
def test_a_plain_run_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with process_group("cpu") as world:
        assert world == World() and world.is_main and not world.is_distributed
        assert not torch.distributed.is_initialized()
    assert runtime.all_reduce_sum([1.5, 2]) == [1.5, 2.0]
    assert runtime.all_gather_objects("x") == ["x"]
    assert runtime.broadcast_object(3) == 3


def test_on_main_rank_runs_once_and_passes_errors_on():
    calls = []
    assert on_main_rank(lambda: calls.append(1) or "done") == "done"
    assert calls == [1]
    with pytest.raises(OSError, match="disk full"):
        on_main_rank(lambda: (_ for _ in ()).throw(OSError("disk full")))


# ------------------------------------------------------------------------------------ Parquet
@pytest.fixture
def two_files(tmp_path):
    """13 row groups: 10 of 7 rows in a.parquet, 3 of 7 in b.parquet (91 rows)."""
    for name, rows in (("a.parquet", 70), ("b.parquet", 21)):
        start = 0 if name == "a.parquet" else 70
        table = pa.table({"x": list(range(start, start + rows)), "y": [1.0] * rows})
        pq.write_table(table, tmp_path / name, row_group_size=7)
    return tmp_path


@pytest.mark.parametrize("world_size", [1, 2, 3, 13])
def test_shards_are_disjoint_cover_every_row_and_are_dealt_in_turn(two_files, world_size):
    shards = [ParquetRowGroups(two_files, rank=r, world_size=world_size) for r in range(world_size)]
    seen = [x for shard in shards for table in shard.tables(["x"]) for x in table["x"].to_pylist()]
    assert sorted(seen) == list(range(91)) and len(seen) == 91
    assert sum(shard.rows for shard in shards) == 91 == shards[0].total_rows
    every = shards[0].all_groups
    for rank, shard in enumerate(shards):
        assert shard.groups == every[rank::world_size]
    sizes = [len(shard.groups) for shard in shards]
    assert max(sizes) - min(sizes) <= 1


def test_tables_are_read_one_row_group_at_a_time(two_files):
    shard = ParquetRowGroups(two_files)
    assert [table.num_rows for table in shard.tables()] == [7] * 13
    assert shard.columns == ["x", "y"]
    order = [3, 0]
    assert [t["x"][0].as_py() for t in shard.tables(["x"], order=order)] == [21, 0]


def test_more_ranks_than_row_groups_is_an_error(two_files):
    with pytest.raises(ValueError, match=r"13 row group\(s\) for 14 ranks; every rank needs at least one"):
        ParquetRowGroups(two_files, rank=0, world_size=14)


def test_files_with_other_columns_are_refused(tmp_path):
    pq.write_table(pa.table({"x": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"z": [1]}), tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b.parquet: columns \['z'\] differ"):
        ParquetRowGroups(tmp_path)


def test_atomic_parquet_writer_leaves_nothing_on_error(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    with atomic_parquet_writer(tmp_path / "out.parquet", schema) as writer:
        writer.write_table(pa.table({"x": [1, 2]}, schema=schema))
        writer.write_table(pa.table({"x": [3]}, schema=schema))
    assert pq.read_table(tmp_path / "out.parquet")["x"].to_pylist() == [1, 2, 3]
    with pytest.raises(RuntimeError), atomic_parquet_writer(tmp_path / "bad.parquet", schema) as writer:
        writer.write_table(pa.table({"x": [1]}, schema=schema))
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


# ------------------------------------------------------------------------------------ checkpoints
def test_checkpoint_round_trip(tmp_path):
    tensors = {"network": {"w": torch.arange(3.0)}, "rng": torch.get_rng_state()}
    meta = {"steps": 4, "curve": [0.5, 0.25], "rng": {"state": 2**100}}
    path = save_checkpoint(tmp_path / "c" / "checkpoint.pt", tensors, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert torch.equal(loaded["network"]["w"], tensors["network"]["w"])
    assert loaded_meta == meta


def test_checkpointing_checks_its_interval(tmp_path):
    assert Checkpointing(str(tmp_path), 5).path == tmp_path / "checkpoint.pt"
    with pytest.raises(ValueError, match=r"Checkpointing.every must be an int >= 1"):
        Checkpointing(tmp_path, 0)

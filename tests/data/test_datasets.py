"""Loaders of the shipped real data sets."""

from __future__ import annotations

import gzip

import numpy as np
import polars as pl
import pytest

from offline_rl.data.datasets import (
    DATASETS_ENV_VAR,
    hash_user_features,
    load_covertype,
    load_open_bandit,
)
from offline_rl.schema import LOG_SCHEMA


def test_load_covertype_shapes_and_labels():
    features, labels = load_covertype()
    assert features.shape == (15_000, 54) and features.dtype == np.float32
    assert labels.shape == (15_000,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(7))
    assert features[:, 10:14].sum(axis=1).max() == 1  # wilderness one-hot


def test_load_covertype_explicit_path_and_missing_file(tmp_path):
    header = ",".join([f"f{i}" for i in range(54)] + ["Cover_Type"])
    path = tmp_path / "tiny.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(header + "\n" + ",".join(["1"] * 54 + ["7"]) + "\n")
    features, labels = load_covertype(path)
    assert features.shape == (1, 54) and labels.tolist() == [6]
    with pytest.raises(FileNotFoundError, match="Covertype file was not found"):
        load_covertype(tmp_path / "missing.csv.gz")


def test_datasets_folder_override(tmp_path, monkeypatch):
    monkeypatch.setenv(DATASETS_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=DATASETS_ENV_VAR):
        load_covertype()


@pytest.fixture(scope="module")
def open_bandit():
    return {policy: load_open_bandit(policy) for policy in ("random", "bts")}


@pytest.mark.parametrize("policy", ["random", "bts"])
def test_load_open_bandit_canonical_schema(open_bandit, policy):
    frame = open_bandit[policy]
    assert frame.height == 10_000
    expected = [f.name for f in LOG_SCHEMA if f.name not in ("action_probs", "reward")]
    assert frame.columns == expected
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert frame.schema["context"] == pl.List(pl.Float32)
    assert frame.schema["candidate_actions"] == pl.List(pl.Int64)
    assert frame.schema["user_id"] == pl.Int64
    assert frame["event_id"].to_list() == list(range(10_000))
    assert frame["context"].list.len().unique().to_list() == [80]
    assert frame["candidate_actions"][0].to_list() == list(range(80))
    assert frame["action"].is_between(0, 79).all()
    assert frame["propensity"].is_between(0, 1, closed="right").all()
    assert set(frame["feedback"].unique()) == {"none", "click"}
    assert frame["ts"].is_sorted()


def test_open_bandit_random_is_uniform_and_ids_are_stable(open_bandit):
    frame = open_bandit["random"]
    assert (frame["propensity"] == 0.0125).all()
    assert not (open_bandit["bts"]["propensity"] == 0.0125).all()
    first = frame.row(0, named=True)
    assert first["action"] == 14 and first["feedback"] == "none"
    assert first["user_id"] == hash_user_features(
        "81ce123cbb5bd8ce818f60fb3586bba5",
        "03a5648a76832f83c859d46bc06cb64a",
        "c2e4f76cdbabecd33b8c762aeef386b3",
        "f97571b9c14a786aab269f0b427d2a85",
    )
    assert 0 <= first["user_id"] < 16**15
    assert 1 < frame["user_id"].n_unique() < 10_000


def test_open_bandit_rejects_unknown_policy():
    with pytest.raises(ValueError, match=r"'policy' parameter must be a str among .*got 'greedy'"):
        load_open_bandit("greedy")

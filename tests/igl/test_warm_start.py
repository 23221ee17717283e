"""Warm start: yesterday's fold models seed tonight's, which then converge faster; the
signal is still checked."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from igl_fixtures import PLANTED_CONFIG, planted_frame

from offline_rl.igl.batch import Vocabulary
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import IGLP
from offline_rl.igl.warm_start import merged_vocabulary, transfer_parameters


@pytest.fixture(scope="module")
def two_nights():
    frame = planted_frame(3000, hours=100)
    first, second = frame.head(1500), frame.tail(1500)
    yesterday = IGLP(IGLPConfig(**PLANTED_CONFIG, seed=1)).fit(first)
    assert yesterday.ik_found_signal_  # a yesterday worth starting from
    return yesterday, second


def test_warm_started_fit_starts_where_yesterday_ended(two_nights):
    yesterday, tonight = two_nights
    budget = {**PLANTED_CONFIG, "ik_restarts": 1, "ik_epochs": 6}
    cold = IGLP(IGLPConfig(**budget, seed=2)).fit(tonight)
    warm = IGLP(IGLPConfig(**budget, seed=2)).fit(tonight, warm_start=yesterday)
    assert warm.warm_started_ and not cold.warm_started_
    for fold in range(3):
        cold_curve = next(r.curve for r in cold.ik_restarts_ if r.fold == fold)
        warm_record = next(r for r in warm.ik_restarts_ if r.fold == fold)
        assert warm_record.warm_started
        # after one epoch the warm model is already better than the cold one after its first
        assert warm_record.curve[0] < cold_curve[0] - 0.05, (warm_record.curve, cold_curve)
    assert warm.ik_found_signal_ is True


def test_warm_start_keeps_known_ids_and_adds_new_ones(two_nights):
    yesterday, tonight = two_nights
    extra = tonight.with_columns(pl.lit(999_999, dtype=tonight.schema["user_id"]).alias("user_id")).head(50)
    model = IGLP(IGLPConfig(**{**PLANTED_CONFIG, "ik_restarts": 1, "ik_epochs": 1, "policy_epochs": 1}, seed=4))
    model.fit(pl.concat([tonight, extra]), warm_start=yesterday)
    assert set(yesterday.users_.to_list()) | {999_999} == set(model.users_.to_list())
    for member in model.ik_model_.members:
        assert member.users.deviation.weight.shape[0] == len(model.users_) + 1


def test_transfer_copies_rows_by_id():
    old, new = torch.nn.Module(), torch.nn.Module()
    old.user_embedding = torch.nn.Embedding(3, 2)  # unknown slot + users (10, 20)
    new.user_embedding = torch.nn.Embedding(4, 2)  # unknown slot + users (10, 15, 20)
    copied = transfer_parameters(
        new, old,
        old_vocabularies={"users": Vocabulary.of((10, 20))},
        new_vocabularies={"users": Vocabulary.of((10, 15, 20))},
    )
    assert copied == ["user_embedding.weight"]
    weights_old, weights_new = old.user_embedding.weight, new.user_embedding.weight
    assert torch.equal(weights_new[[0, 1, 3]], weights_old[[0, 1, 2]])
    assert not torch.equal(weights_new[2], weights_old[1])


def test_warm_start_refuses_another_architecture(two_nights):
    yesterday, tonight = two_nights
    other = IGLP(IGLPConfig(**{**PLANTED_CONFIG, "embedding_dim": 3}))
    with pytest.raises(ValueError, match="another architecture .*embedding_dim 2 -> 3"):
        other.fit(tonight, warm_start=yesterday)


def test_merged_vocabulary_is_the_sorted_union():
    merged = merged_vocabulary(Vocabulary.of((1, 3, 5)), Vocabulary.of((2, 3)))
    assert merged.to_list() == [1, 2, 3, 5]
    with pytest.raises(ValueError, match="start fresh"):
        merged_vocabulary(Vocabulary.of((1,)), Vocabulary.of(("a",)))
    assert np.array_equal(Vocabulary.of(("b", "a")).index(pl.Series(["a", "c"])), [1, 0])

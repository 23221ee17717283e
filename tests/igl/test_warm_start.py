"""Warm start: yesterday's model seeds tonight's fit, which then converges faster."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from igl_fixtures import SMALL_CONFIG, small_covertype

from offline_rl.igl.batch import Vocabulary
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import IGLP
from offline_rl.igl.warm_start import merged_vocabulary


@pytest.fixture(scope="module")
def two_nights():
    _, frame, _ = small_covertype(rows=12_000, seed=3)
    first, second = frame.head(6000), frame.tail(6000)
    yesterday = IGLP(IGLPConfig(**SMALL_CONFIG, seed=1)).fit(first)
    return yesterday, second


def test_warm_started_fit_converges_faster_than_a_cold_one(two_nights):
    yesterday, tonight = two_nights
    budget = {**SMALL_CONFIG, "ik_restarts": 1, "ik_epochs": 6}
    cold = IGLP(IGLPConfig(**budget, seed=2)).fit(tonight)
    warm = IGLP(IGLPConfig(**budget, seed=2)).fit(tonight, warm_start=yesterday)
    cold_curve = np.array(cold.ik_restarts_[0].curve)
    warm_curve = np.array(warm.ik_restarts_[0].curve)
    assert warm.warm_started_ and not cold.warm_started_
    # After one epoch the warm fit is already at least as good as the cold fit after all six.
    assert warm_curve[0] <= cold_curve[-1] + 1e-3, (warm_curve, cold_curve)
    assert warm_curve[0] < cold_curve[0]


def test_warm_start_keeps_known_ids_and_adds_new_ones(two_nights):
    yesterday, tonight = two_nights
    extra = tonight.with_columns(pl.lit(999_999, dtype=tonight.schema["user_id"]).alias("user_id")).head(50)
    model = IGLP(IGLPConfig(**{**SMALL_CONFIG, "ik_restarts": 1, "ik_epochs": 1, "policy_epochs": 1}, seed=4)).fit(
        pl.concat([tonight, extra]), warm_start=yesterday
    )
    assert set(yesterday.users_.values) | {999_999} == set(model.users_.values)
    assert model.ik_model_.user_embedding.weight.shape[0] == len(model.users_) + 1


def test_transfer_copies_rows_by_id():
    import torch

    from offline_rl.igl.warm_start import transfer_parameters

    old, new = torch.nn.Module(), torch.nn.Module()
    old.user_embedding = torch.nn.Embedding(3, 2)  # unknown slot + users (10, 20)
    new.user_embedding = torch.nn.Embedding(4, 2)  # unknown slot + users (10, 15, 20)
    copied = transfer_parameters(
        new, old,
        old_vocabularies={"users": Vocabulary((10, 20))},
        new_vocabularies={"users": Vocabulary((10, 15, 20))},
    )
    assert copied == ["user_embedding.weight"]
    weights_old, weights_new = old.user_embedding.weight, new.user_embedding.weight
    assert torch.equal(weights_new[[0, 1, 3]], weights_old[[0, 1, 2]])


def test_warm_start_refuses_another_architecture(two_nights):
    yesterday, tonight = two_nights
    other = IGLP(IGLPConfig(**{**SMALL_CONFIG, "embedding_dim": 3}))
    with pytest.raises(ValueError, match="another architecture .*embedding_dim 2 -> 3"):
        other.fit(tonight, warm_start=yesterday)


def test_merged_vocabulary_is_the_sorted_union():
    merged = merged_vocabulary(Vocabulary((1, 3, 5)), Vocabulary((2, 3)))
    assert merged.values == (1, 2, 3, 5)

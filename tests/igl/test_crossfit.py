"""Cross-fitting: the folds (user-time blocks, stable, deterministic) and the guarantee that no
decoded row comes from a model that trained on it, or chose its epochs or restart with it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from igl_fixtures import PLANTED_CONFIG, planted_frame

from offline_rl.igl import crossfit
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.folds import ROWS_PER_BLOCK_WITHOUT_TIME, crossfit_folds, stable_id_hash
from offline_rl.igl.learner import IGLP

HOUR = 3600.0


def test_rows_of_one_user_hour_share_a_fold_and_users_span_folds():
    frame = planted_frame(4000, users=20, hours=200)
    folds = crossfit_folds(frame, n_folds=3, seed=0, block_seconds=HOUR)
    blocks = frame.select(pl.col("user_id"), (pl.col("ts").dt.epoch("s") // 3600).alias("hour"))
    per_block = blocks.with_columns(pl.Series("fold", folds.fold)).group_by("user_id", "hour").agg(
        pl.col("fold").n_unique().alias("folds"))
    assert (per_block["folds"] == 1).all()
    per_user = blocks.with_columns(pl.Series("fold", folds.fold)).group_by("user_id").agg(
        pl.col("fold").n_unique().alias("folds"))
    assert (per_user["folds"] == 3).all()  # ~10 active hours each: every fold holds some
    counts = np.bincount(folds.fold, minlength=3)
    assert counts.min() > 0.25 * len(frame)


def test_a_rows_fold_depends_on_the_row_alone():
    """Stable across windows (warm starts stay honest) and deterministic given the seed."""
    frame = planted_frame(3000, hours=100)
    whole = crossfit_folds(frame, n_folds=3, seed=7, block_seconds=HOUR)
    later = crossfit_folds(frame.tail(1000), n_folds=3, seed=7, block_seconds=HOUR)
    np.testing.assert_array_equal(whole.fold[-1000:], later.fold)
    np.testing.assert_array_equal(whole.fold, crossfit_folds(frame, n_folds=3, seed=7,
                                                             block_seconds=HOUR).fold)
    assert (whole.fold != crossfit_folds(frame, n_folds=3, seed=8, block_seconds=HOUR).fold).any()


def test_inner_validation_is_whole_training_blocks():
    frame = planted_frame(4000, hours=200)
    folds = crossfit_folds(frame, n_folds=3, seed=0, block_seconds=HOUR)
    for fold in range(3):
        inner = folds.inner_validation(fold, 0.15)
        assert not (inner & (folds.fold == fold)).any()
        share = inner.sum() / folds.training_rows(fold).sum()
        assert 0.08 < share < 0.25
        same_block = np.isin(folds.block_key, folds.block_key[inner])
        assert inner[same_block].all()  # a block is held out whole


def test_frames_without_time_use_runs_of_each_users_rows():
    frame = planted_frame(600, users=3).drop("ts")
    folds = crossfit_folds(frame, n_folds=3, seed=0, block_seconds=HOUR)
    user = frame["user_id"].to_numpy()
    for u in np.unique(user):
        fold = folds.fold[user == u]
        runs = fold[: (fold.size // ROWS_PER_BLOCK_WITHOUT_TIME) * ROWS_PER_BLOCK_WITHOUT_TIME]
        assert (runs.reshape(-1, ROWS_PER_BLOCK_WITHOUT_TIME) == runs[::ROWS_PER_BLOCK_WITHOUT_TIME, None]).all()
        assert np.unique(fold).size == 3


def test_stable_id_hash_is_fixed():
    """Stable across processes and releases: no salted hash (these values are the contract)."""
    ints = stable_id_hash(pl.Series([0, 1, 2]), 0)
    strings = stable_id_hash(pl.Series(["a", "b", "a"]), 0)
    assert strings[0] == strings[2] != strings[1]
    assert stable_id_hash(pl.Series([0, 1, 2]), 1).tolist() != ints.tolist()
    assert ints.tolist() == stable_id_hash(pl.Series([0, 1, 2], dtype=pl.Int32), 0).tolist()


def test_no_decoded_row_trains_or_steers_its_own_decoder(monkeypatch):
    """A spy on every fold model: the rows it trained on and the rows that chose its epochs
    are disjoint from the rows it decoded; each decoded row's P_hat is its fold model's."""
    frame = planted_frame(1500)
    # the row number rides in the first context feature, so the spy can see which rows
    frame = frame.with_columns(pl.concat_list(pl.int_range(pl.len()).cast(pl.Float32),
                                              pl.col("context").list.slice(1)).alias("context"))
    seen = {}
    original = crossfit._fit_fold

    def spy(config, fold, train, validation, *args):
        seen[fold] = (set(train.context[:, 0].astype(int)), set(validation.context[:, 0].astype(int)))
        return original(config, fold, train, validation, *args)

    monkeypatch.setattr(crossfit, "_fit_fold", spy)
    config = IGLPConfig(**PLANTED_CONFIG)
    model = IGLP(config)
    decoded = model.fit_decode(frame)
    folds = crossfit_folds(frame, n_folds=3, seed=config.seed, block_seconds=config.crossfit_block_seconds)
    for fold, (trained, validated) in seen.items():
        decoded_rows = set(np.flatnonzero(folds.fold == fold))
        assert decoded_rows and trained and validated
        assert not decoded_rows & trained and not decoded_rows & validated
        assert trained | validated | decoded_rows == set(range(frame.height))
        rows = np.flatnonzero(folds.fold == fold)
        batch = model._batch(frame[rows], need_feedback=True, need_action=True, where="test")
        from offline_rl.igl.ik_model import ik_probabilities
        p = ik_probabilities(model.ik_model_.members[fold], batch)[np.arange(rows.size), batch.action_index]
        np.testing.assert_allclose(decoded["p_hat"].to_numpy()[rows], p)


def test_decode_of_training_rows_is_not_out_of_fold(planted_fitted):
    """decode() treats rows as new (the ensemble, mostly trained on them): it differs from
    the out-of-fold decoding that fit_decode returns, which is what the policy used."""
    model, frame, decoded = planted_fitted
    again = model.decode(frame)
    assert not np.allclose(again["p_hat"], decoded["p_hat"])


@pytest.fixture(scope="module")
def planted_fitted():
    frame = planted_frame()
    model = IGLP(IGLPConfig(**PLANTED_CONFIG))
    return model, frame, model.fit_decode(frame)


def test_too_few_rows_for_the_folds_is_a_clear_error():
    frame = planted_frame(2, users=1, hours=0.01)
    with pytest.raises(ValueError, match="fold .* has no training rows"):
        IGLP(IGLPConfig(**PLANTED_CONFIG)).fit(frame)

"""Training a practitioner can run: the validation split, early stopping on the held-out loss,
checkpoints with resume, and the one objective that is both trained and reported."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from conftest import SMALL

from offline_rl.qriql import QRIQL, QRIQLConfig
from offline_rl.qriql.features import held_out_mask
from offline_rl.runtime import Checkpointing

VALIDATED = {**SMALL, "steps": 30, "validation_fraction": 0.25, "validation_every": 5}


# ----------------------------------------------------------------------------- the split
@pytest.mark.parametrize("unit", ["user", "session"])
def test_the_split_never_puts_one_unit_on_both_sides(trajectories, unit):
    held = held_out_mask(trajectories, fraction=0.3, unit=unit, seed=4)
    keys = ["user_id"] if unit == "user" else ["user_id", "session_id"]
    sides = trajectories.with_columns(held=pl.Series(held)).group_by(keys).agg(pl.col("held").n_unique())
    assert sides["held"].max() == 1
    units = trajectories.select(keys).unique().height
    held_units = trajectories.filter(pl.Series(held)).select(keys).unique().height
    assert 0 < held_units < units


def test_the_split_depends_on_the_unit_and_seed_alone(trajectories):
    """Row order, chunking (row groups, processes) and the rest of the table do not matter."""
    whole = held_out_mask(trajectories, fraction=0.3, unit="user", seed=4)
    shuffled = trajectories.with_row_index("row").sample(fraction=1.0, shuffle=True, seed=1)
    chunks = np.concatenate([held_out_mask(shuffled.slice(s, 97), fraction=0.3, unit="user", seed=4)
                             for s in range(0, shuffled.height, 97)])
    assert np.array_equal(chunks, whole[shuffled["row"].to_numpy()])
    assert not np.array_equal(whole, held_out_mask(trajectories, fraction=0.3, unit="user", seed=5))
    assert not held_out_mask(trajectories, fraction=0.0, unit="user", seed=4).any()


def test_held_out_rows_are_never_seen_by_the_fit(trajectories):
    """Vocabulary, row counts and batches come from the training users alone."""
    held = held_out_mask(trajectories, fraction=0.25, unit="user", seed=0)
    model = QRIQL(QRIQLConfig(**VALIDATED)).fit(trajectories)
    train = trajectories.filter(pl.Series(~held))
    seen = set(pl.concat([train["item"], train["next_item"], train["history_items"].explode()]).drop_nulls())
    assert set(model.items_.values) == seen
    assert (model.n_rows_, model.n_validation_rows_) == (train.height, int(held.sum()))


def test_a_split_that_holds_out_nothing_is_an_error(trajectories):
    one_user = trajectories.filter(pl.col("user_id") == trajectories["user_id"][0])
    with pytest.raises(ValueError, match=r"validation_fraction 0.01 held out no user"):
        QRIQL(QRIQLConfig(**{**SMALL, "validation_fraction": 0.01})).fit(one_user)


# ----------------------------------------------------------------------------- early stopping
def test_the_fit_ends_with_the_weights_of_its_best_held_out_loss(trajectories):
    model = QRIQL(QRIQLConfig(**VALIDATED)).fit(trajectories)
    steps = [step for step, _ in model.validation_curve_]
    assert steps == [5, 10, 15, 20, 25, 30]
    best_step, best = min(model.validation_curve_, key=lambda pair: pair[1])
    assert model.best_step_ == best_step
    held_out = trajectories.filter(pl.Series(held_out_mask(trajectories, fraction=0.25, unit="user", seed=0)))
    assert model.loss(held_out) == pytest.approx(best, rel=1e-5)


def test_patience_stops_the_fit_and_keeps_the_best_weights(trajectories):
    """A learning rate this high overfits the 40 users quickly: the held-out loss turns up."""
    config = QRIQLConfig(**{**VALIDATED, "steps": 200, "learning_rate": 0.05, "validation_every": 2,
                            "patience": 3})
    model = QRIQL(config).fit(trajectories)
    losses = [loss for _, loss in model.validation_curve_]
    best = int(np.argmin(losses))
    assert model.steps_ < 200 and len(losses) == best + 1 + 3
    assert model.best_step_ == model.validation_curve_[best][0] < model.steps_
    assert len(model.loss_curve_) == model.steps_


def test_patience_needs_a_validation_split():
    with pytest.raises(ValueError, match=r"'patience' parameter of QRIQLConfig must be None when validation_fraction == 0"):
        QRIQLConfig(patience=2)


# ----------------------------------------------------------------------------- one objective
@pytest.mark.parametrize("quantiles", [1, 3])
@pytest.mark.parametrize("huber_kappa", [0.0, 1.0])
def test_the_reported_loss_is_the_trained_objective(trajectories, quantiles, huber_kappa):
    """With the whole table as one batch and a learning rate too small to move the weights, the
    first step's training loss and ``loss()`` measure the same function at the same weights.
    (``loss()`` once used IQ-Learn's loss for N = 1 whatever the Huber setting: 0.78 against a
    trained 0.23 at huber_kappa = 1.)"""
    config = QRIQLConfig(**{**SMALL, "steps": 1, "quantiles": quantiles, "huber_kappa": huber_kappa,
                            "batch_size": trajectories.height, "learning_rate": 1e-12})
    model = QRIQL(config).fit(trajectories)
    assert model.loss(trajectories) == pytest.approx(model.loss_curve_[0], rel=1e-5)


# ----------------------------------------------------------------------------- checkpoints
class Killed(BaseException):
    """Stands for the process dying: nothing after it runs, nothing is cleaned up."""


def _kill_at(monkeypatch, step: int) -> None:
    """Die when the fit asks for the batch of ``step`` (before that step trains)."""
    from offline_rl.qriql import batches

    for source in (batches.InMemoryBatches, batches.StreamedBatches):
        real = source.next_batch
        calls = {"n": 0}

        def dying(self, real=real, calls=calls):
            calls["n"] += 1
            if calls["n"] == step:
                raise Killed
            return real(self)

        monkeypatch.setattr(source, "next_batch", dying)


def _same_model(a: QRIQL, b: QRIQL) -> None:
    state_a, state_b = a.network_.state_dict(), b.network_.state_dict()
    assert list(state_a) == list(state_b)
    for name in state_a:
        assert bool((state_a[name] == state_b[name]).all()), name
    assert a.loss_curve_ == b.loss_curve_
    assert a.validation_curve_ == b.validation_curve_
    assert (a.best_step_, a.steps_) == (b.best_step_, b.steps_)


@pytest.mark.parametrize("settings", [
    {**SMALL, "steps": 14},
    {**VALIDATED, "steps": 14, "validation_every": 3, "terminal_value": "learned"},
], ids=["plain", "validated"])
def test_a_killed_fit_resumed_from_its_checkpoint_is_the_uninterrupted_fit(trajectories, tmp_path, monkeypatch,
                                                                          settings):
    config = QRIQLConfig(**settings)
    uninterrupted = QRIQL(config).fit(trajectories)
    checkpointing = Checkpointing(tmp_path, every=4, resume=True)
    with monkeypatch.context() as patch:
        _kill_at(patch, 11)  # after the checkpoints of steps 4 and 8, before step 11 trains
        with pytest.raises(Killed):
            QRIQL(config).fit(trajectories, checkpointing=checkpointing)
    assert checkpointing.path.is_file()
    resumed = QRIQL(config).fit(trajectories, checkpointing=checkpointing)
    _same_model(resumed, uninterrupted)


def test_resume_refuses_the_checkpoint_of_another_fit(trajectories, tmp_path):
    QRIQL(QRIQLConfig(**{**SMALL, "steps": 8})).fit(trajectories, checkpointing=Checkpointing(tmp_path, 4))
    other = QRIQLConfig(**{**SMALL, "steps": 8, "alpha": 0.25})
    with pytest.raises(ValueError, match=r"belongs to another fit: \['config'\] differ"):
        QRIQL(other).fit(trajectories, checkpointing=Checkpointing(tmp_path, 4, resume=True))


def test_resume_without_a_checkpoint_starts_afresh(trajectories, tmp_path):
    config = QRIQLConfig(**{**SMALL, "steps": 6})
    fresh = QRIQL(config).fit(trajectories, checkpointing=Checkpointing(tmp_path / "none", 4, resume=True))
    _same_model(fresh, QRIQL(config).fit(trajectories))


def test_a_finished_fit_left_its_last_checkpoint_before_the_end(trajectories, tmp_path):
    config = QRIQLConfig(**{**SMALL, "steps": 10})
    QRIQL(config).fit(trajectories, checkpointing=Checkpointing(tmp_path, 4))
    from offline_rl.runtime import load_checkpoint

    _, meta = load_checkpoint(tmp_path / "checkpoint.pt")
    assert meta["steps"] == 8 and len(meta["loss_curve"]) == 8
    assert not math.isnan(meta["loss_curve"][-1])

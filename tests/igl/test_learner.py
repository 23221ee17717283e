"""IGLP beyond the shared learner contract (tests/test_learner_contract.py): shapes with
variable candidate sets, the 3-state decoder, unknown ids, restart selection and racing, the
no-signal warning, and save/load after a warm start, an online fit and from format 1."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from fitted_state import fitted_state_differences
from igl_fixtures import SMALL_CONFIG, variable_k_frame

from offline_rl.errors import NoSignalWarning
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.learner import DECODED_COLUMNS, IGLP

TINY = dict(SMALL_CONFIG, ik_epochs=2, ik_warmup_epochs=1, policy_epochs=2, ik_restarts=2)


def test_variable_k_shapes_and_padding():
    frame = variable_k_frame()
    model = IGLP(IGLPConfig(**TINY)).fit(frame)
    assert model.fit(frame) is model
    k = frame["num_candidates"].to_numpy()
    probs = model.predict_proba(frame)
    assert probs.shape == (frame.height, k.max())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    padding = np.arange(k.max())[None, :] >= k[:, None]
    assert (probs[padding] == 0).all()
    ik = model.ik_proba(frame)
    np.testing.assert_allclose(ik.sum(axis=1), 1.0)
    assert (ik[padding] == 0).all()
    actions = model.predict(frame)
    for action, candidates in zip(actions, frame["candidate_actions"].to_list(), strict=True):
        assert action in candidates
    decoded = model.decode(frame)
    assert decoded.columns == ["event_id", *DECODED_COLUMNS]
    np.testing.assert_allclose(decoded["k_p_hat"], k * decoded["p_hat"].to_numpy())
    assert set(decoded["decoded_reward"].unique().to_list()) <= {0.0, 1.0}


def test_three_states_decode_negative():
    frame = variable_k_frame()
    config = IGLPConfig(states=3, negative_signals=("dislike",), alpha=0.5, **TINY)
    decoded = IGLP(config).fit(frame).decode(frame)
    neg = decoded.filter(pl.col("is_extreme") & pl.col("definitely_negative"))
    assert (neg["decoded_reward"] == -2.0).all()
    assert (decoded.filter(~pl.col("is_extreme"))["decoded_reward"] == 0).all()


def test_unknown_ids_at_predict_time():
    frame = variable_k_frame()
    model = IGLP(IGLPConfig(**TINY)).fit(frame)
    other = frame.with_columns(
        pl.col("user_id") + 1000, pl.lit("never-seen").alias("feedback")
    )
    assert np.isfinite(model.ik_proba(other)).all()
    assert model.predict_proba(other).shape[0] == frame.height


def test_restart_selection_uses_held_out_ik_likelihood(fitted_small):
    records = fitted_small.ik_restarts_
    assert len(records) == fitted_small.config.ik_restarts
    best = min(records, key=lambda r: r.validation_nll)
    assert fitted_small.best_restart_ == best.restart


def test_decoded_rewards_feed_the_analysis_sql(fitted_small, covertype_small):
    from offline_rl.data.sql_jobs import run_sql_job

    _, frame, _ = covertype_small
    decoded = fitted_small.decode(frame)
    by_signal = pl.from_arrow(run_sql_job("decoded_reward_by_signal", {"decoded_rewards": decoded}))
    assert by_signal["events"].sum() == frame.height


def test_string_ids_and_no_context(tmp_path):
    frame = variable_k_frame().with_columns(
        pl.format("user-{}", "user_id").alias("user_id"),
        pl.format("ev-{}", "event_id").alias("event_id"),
    ).drop("context")
    model = IGLP(IGLPConfig(**TINY)).fit(frame)
    decoded = model.decode(frame)
    assert decoded["user_id"].dtype == pl.String and decoded["event_id"].dtype == pl.String
    model.save(tmp_path)
    loaded = IGLP.load(tmp_path)
    assert loaded.users_.values[0] == "user-0"
    assert fitted_state_differences(model, loaded) == []
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_restarts_race_and_only_the_best_trains_on(covertype_small):
    _, frame, _ = covertype_small
    base = {**SMALL_CONFIG, "ik_restarts": 3, "policy_epochs": 2}
    model = IGLP(IGLPConfig(seed=0, **{**base, "ik_epochs": 12, "ik_race_epochs": 6})).fit(frame)
    records = model.ik_restarts_
    winner = next(r for r in records if r.restart == model.best_restart_)
    losers = [r for r in records if r.restart != winner.restart]
    assert winner.epochs == 12 and all(len(r.curve) == r.epochs for r in records)
    # the losers stopped together when the race ended: after the 6 race epochs, extended
    # while no restart had left the no-signal point
    race_end = losers[0].epochs
    assert all(r.epochs == race_end for r in losers) and 6 <= race_end < 12
    # the winner led at that point: the same restarts trained race_end epochs without racing
    # (same seeds, so the same paths) rank the same restart first with the same NLLs
    unraced = IGLP(IGLPConfig(seed=0, **{**base, "ik_epochs": race_end})).fit(frame)
    at_race = [r.validation_nll for r in unraced.ik_restarts_]
    assert int(np.argmin(at_race)) == winner.restart
    assert [r.validation_nll for r in losers] == pytest.approx([at_race[r.restart] for r in losers])
    with pytest.raises(ValueError, match="ik_race_epochs"):
        IGLPConfig(ik_epochs=3, ik_race_epochs=3)


def test_race_is_extended_while_every_restart_is_at_the_no_signal_point(covertype_small):
    """Feedback shuffled across rows carries no signal: no restart can leave the no-signal
    point, so the race runs to the end and racing costs what full restarts cost."""
    from offline_rl.igl.ik_model import ESCAPE_MARGIN, no_signal_nll

    _, frame, _ = covertype_small
    rng = np.random.default_rng(0)
    noise = frame.with_columns(pl.Series("feedback", rng.permutation(frame["feedback"].to_numpy())))
    config = IGLPConfig(seed=0, **{**TINY, "ik_restarts": 2, "ik_epochs": 4, "ik_race_epochs": 2})
    with pytest.warns(NoSignalWarning, match="no IK restart left the no-signal point"):
        model = IGLP(config).fit(noise)
    assert [r.epochs for r in model.ik_restarts_] == [4, 4]
    batch = model._batch(noise, need_feedback=True, need_action=True, where="test")
    n_val = int(round(config.validation_fraction * len(batch)))
    level = no_signal_nll(batch.take(slice(len(batch) - n_val, len(batch))))
    assert min(r.validation_nll for r in model.ik_restarts_) > level - ESCAPE_MARGIN


def test_no_warning_when_a_restart_found_the_signal(covertype_small):
    import warnings

    _, frame, _ = covertype_small
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSignalWarning)
        IGLP(IGLPConfig(seed=0, **{**SMALL_CONFIG, "policy_epochs": 2})).fit(frame)


def test_racing_without_held_out_rows_judges_on_the_training_rows(covertype_small):
    """validation_fraction = 0: the race still runs (on training NLL), nothing is claimed
    about the signal, and no warning is raised without held-out rows."""
    import warnings

    _, frame, _ = covertype_small
    config = IGLPConfig(seed=0, **{**SMALL_CONFIG, "ik_restarts": 2, "ik_race_epochs": 4,
                                   "validation_fraction": 0.0, "policy_epochs": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSignalWarning)
        model = IGLP(config).fit(frame)
    assert sorted(r.epochs for r in model.ik_restarts_)[-1] == config.ik_epochs
    assert model.ik_found_signal_ is None and model.ik_no_signal_nll_ is None


def test_save_load_after_a_warm_start_and_an_online_fit(tmp_path):
    """The attributes a plain fit leaves at their defaults survive a round trip too."""
    from offline_rl.simulators import make_environment

    frame = variable_k_frame()
    yesterday = IGLP(IGLPConfig(**TINY)).fit(frame.head(30))
    warm = IGLP(IGLPConfig(**TINY, seed=1)).fit(frame, warm_start=yesterday)
    env = make_environment("covertype", seed=0, n_users=4, n_words=4)
    online = IGLP(IGLPConfig(**TINY)).fit_online(env, rounds=600, batch_rounds=300, seed=0)
    assert warm.warm_started_ is True and online.online_traces_ is not None
    for name, model in {"warm": warm, "online": online}.items():
        model.save(tmp_path / name)
        assert fitted_state_differences(model, IGLP.load(tmp_path / name)) == [], name
    # a refit replaces every fitted attribute: nothing of the online run is left behind
    refit = online.fit(frame)
    assert refit.online_traces_ is None and refit.warm_started_ is False
    assert fitted_state_differences(refit, IGLP(IGLPConfig(**TINY)).fit(frame)) == []


def test_loads_a_format_1_artifact_and_refuses_a_newer_one(tmp_path):
    model = IGLP(IGLPConfig(**TINY)).fit(variable_k_frame())
    model.save(tmp_path)
    path = tmp_path / "config.json"
    document = json.loads(path.read_text())
    added_in_2 = ("warm_started", "ik_no_signal_nll", "ik_found_signal", "online_traces")
    old = {**document, "format_version": "1",
           "fitted": {k: v for k, v in document["fitted"].items() if k not in added_in_2}}
    path.write_text(json.dumps(old))
    loaded = IGLP.load(tmp_path)
    assert loaded.warm_started_ is None and loaded.ik_found_signal_ is None
    np.testing.assert_array_equal(loaded.ik_proba(variable_k_frame()),
                                  model.ik_proba(variable_k_frame()))
    path.write_text(json.dumps({**document, "format_version": "3"}))
    with pytest.raises(ValueError, match="format version '3' of IGLP; this release reads"):
        IGLP.load(tmp_path)


def test_fitted_attributes_are_assigned_in_one_place():
    """Every ``x.name_ = ...`` in offline_rl/igl sits in a ``_set_fitted`` method, so fit,
    fit_online and load cannot build the fitted state three different ways."""
    import ast
    from pathlib import Path

    import offline_rl.igl

    elsewhere = []
    for path in sorted(Path(offline_rl.igl.__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text())
        inside = {id(node) for function in ast.walk(tree)
                  if isinstance(function, ast.FunctionDef) and function.name == "_set_fitted"
                  for node in ast.walk(function)}
        for node in ast.walk(tree):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr.endswith("_")
                        and not target.attr.startswith("_") and id(target) not in inside):
                    elsewhere.append(f"{path.name}:{target.lineno} {target.attr}")
    assert elsewhere == []

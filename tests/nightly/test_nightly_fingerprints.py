"""Step fingerprints come from the configs the steps use: a new setting cannot be missed.

A step's fingerprint is the ``to_dict()`` of its config plus hashes of what it reads, so a
field added to a learner's config (here: a subclass of IGLPConfig with a setting the
pipeline has never heard of) re-runs the step that uses it, while unrelated steps are kept.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from offline_rl.config import Real
from offline_rl.igl.config import IGLPConfig
from offline_rl.nightly import pipeline
from offline_rl.nightly.config import NightlyConfig, build_config, read_config_file, step_configs


@dataclasses.dataclass(frozen=True, kw_only=True)
class IGLPConfigWithNewSetting(IGLPConfig):
    """IGLPConfig as it would be after someone adds a field to it."""

    ik_dropout: float = 0.0
    """A setting the nightly pipeline has never heard of."""

    CONSTRAINTS = {**IGLPConfig.CONSTRAINTS, "ik_dropout": Real(0.0, 1.0)}


def _with_new_igl_setting(configs, value: float):
    settings = {k: v for k, v in configs.igl.to_dict().items() if k != "schema_version"}
    return dataclasses.replace(configs, igl=IGLPConfigWithNewSetting(**settings, ik_dropout=value))


def _settings(configs):
    return pipeline.step_settings(configs, input_hashes={"a.parquet": "0" * 64}, sql_hashes={"m.sql": "1" * 64},
                                  warm_from=None)


@pytest.mark.parametrize(
    ("change", "changed_step"),
    [
        (lambda c: _with_new_igl_setting(c, 0.5), "fit_igl"),
        (lambda c: dataclasses.replace(c, igl=c.igl.replace(ik_learning_rate=0.01)), "fit_igl"),
        (lambda c: dataclasses.replace(c, prepare=dataclasses.replace(c.prepare, session_gap_seconds=600.0)), "prepare"),
        (lambda c: dataclasses.replace(c, qriql=dataclasses.replace(c.qriql, gamma=0.5)), "fit_qriql"),
        (lambda c: dataclasses.replace(c, evaluation=c.evaluation.replace(weight_cap=5.0)), "evaluate"),
    ],
    ids=["new-igl-field", "igl-field", "prepare-field", "qriql-field", "evaluation-field"],
)
def test_a_config_change_invalidates_exactly_the_step_that_uses_it(change, changed_step):
    configs = step_configs(NightlyConfig(logs="logs/"))
    before, after = _settings(configs), _settings(change(configs))
    assert set(before) == set(after) == set(pipeline.STEPS)
    assert {name for name in before if before[name] != after[name]} == {changed_step}


def _crash_at_evaluate(config: NightlyConfig, monkeypatch) -> Path:
    """A run killed during `evaluate`: validate, prepare and fit_igl are finished in .partial."""

    class Killed(Exception):
        pass

    def crash(*args):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "_evaluate", crash)
        with pytest.raises(Killed):
            pipeline.run_nightly(config, quiet=True)
    steps = Path(config.runs_dir) / ".partial" / "2026-11-01" / ".steps"
    assert sorted(path.stem for path in steps.glob("*.json")) == ["fit_igl", "prepare", "validate"]
    return steps


@pytest.fixture
def fast_nightly(partitioned_logs, fast_config, tmp_path) -> NightlyConfig:
    return build_config(read_config_file(fast_config), logs=str(partitioned_logs), date="2026-11-01",
                        runs_dir=str(tmp_path / "runs"), fit_qriql=False)


def test_a_new_learner_setting_recomputes_the_fit_not_reuses_it(fast_nightly, monkeypatch):
    _crash_at_evaluate(fast_nightly, monkeypatch)
    original = pipeline.step_configs
    monkeypatch.setattr(pipeline, "step_configs", lambda config: _with_new_igl_setting(original(config), 0.5))
    result = pipeline.run_nightly(fast_nightly, quiet=True)
    assert result.manifest["reused_steps"] == ["validate", "prepare"]
    saved = json.loads((result.run_dir / "models" / "iglp" / "config.json").read_text())
    assert saved["config"]["ik_dropout"] == 0.5
    # the finished run is up to date for these settings, and stale for any other value
    assert pipeline.run_nightly(fast_nightly, quiet=True).up_to_date
    monkeypatch.setattr(pipeline, "step_configs", lambda config: _with_new_igl_setting(original(config), 0.25))
    assert not pipeline.run_nightly(fast_nightly, quiet=True).up_to_date


def test_an_evaluation_setting_keeps_the_fitted_model(fast_nightly, monkeypatch):
    steps = _crash_at_evaluate(fast_nightly, monkeypatch)
    fitted = json.loads((steps / "fit_igl.json").read_text())["outputs"]
    result = pipeline.run_nightly(fast_nightly.replace(bootstrap_replicates=20), quiet=True)
    assert result.manifest["reused_steps"] == ["validate", "prepare", "fit_igl"]
    assert {name: result.manifest["outputs"][name] for name in fitted} == fitted

"""Nightly settings: validated, read from TOML/YAML/JSON, flags win over the file."""

from __future__ import annotations

import pytest

from offline_rl.config import ConfigError
from offline_rl.nightly.config import NightlyConfig, build_config, read_config_file, step_configs
from offline_rl.nightly.partitions import select_partition


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("nightly.toml", '[nightly]\nlogs = "logs/"\nseed = 5\nstates = 2\nnegative_signals = ["dislike", "angry"]\n'),
        ("nightly.yaml", "nightly:\n  logs: logs/\n  seed: 5\n  states: 2\n  negative_signals: [dislike, angry]\n"),
        ("nightly.json", '{"logs": "logs/", "seed": 5, "states": 2, "negative_signals": ["dislike", "angry"]}'),
    ],
)
def test_config_files_and_flags(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    config = build_config(read_config_file(path), seed=None, states=3)
    assert config.seed == 5  # from the file: the flag was not given
    assert config.states == 3  # the flag wins
    assert config.negative_signals == ("dislike", "angry")
    assert NightlyConfig.from_dict(config.to_dict()) == config


def test_a_bare_string_from_a_file_is_refused_not_split_into_letters(tmp_path):
    path = tmp_path / "nightly.toml"
    path.write_text('[nightly]\nlogs = "logs/"\nnegative_signals = "dislike"\n')
    with pytest.raises(ConfigError, match="'negative_signals' parameter of NightlyConfig must be a tuple of str"):
        build_config(read_config_file(path))


def test_missing_logs_is_named():
    with pytest.raises(ConfigError, match="'logs' parameter of NightlyConfig must be a non-empty str"):
        build_config({}, logs=None, seed=3)


def test_step_configs_follow_the_nightly_settings():
    configs = step_configs(NightlyConfig(logs="logs/", states=2, alpha=1.0, seed=4, threads=2, bootstrap_replicates=0,
                                         fit_qriql=False, max_weight=20.0))
    assert configs.igl.states == 2 and configs.igl.negative_signals == () and configs.igl.seed == 4
    assert configs.igl.max_threads == 2 and configs.qriql is None and configs.prepare.max_weight == 20.0
    # no bootstrap: the delta method's intervals, as `offline-rl evaluate --replicates 0`
    assert configs.evaluation.n_replicates == 0 and configs.evaluation.interval == "delta"
    three = step_configs(NightlyConfig(logs="logs/", alpha=0.25, quantiles=3))
    assert three.igl.negative_signals == ("dislike",) and three.igl.alpha == 0.25 and three.qriql.quantiles == 3
    # alpha by default: estimated each night by IGL-P (None), not a number picked once
    assert NightlyConfig(logs="logs/").alpha is None
    assert step_configs(NightlyConfig(logs="logs/")).igl.alpha is None


def test_unparseable_file(tmp_path):
    path = tmp_path / "nightly.toml"
    path.write_text("[nightly\nseed = ")
    with pytest.raises(ValueError, match="cannot parse the config"):
        read_config_file(path)


def test_partitions_latest_window_and_unpartitioned(tmp_path):
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        folder = tmp_path / "logs" / f"date={day}"
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"")
    latest = select_partition(str(tmp_path / "logs"), "latest", window_days=2)
    assert latest.date == "2026-11-03"
    assert [path.parent.name for path in latest.files] == ["date=2026-11-02", "date=2026-11-03"]
    (tmp_path / "flat.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="not partitioned by date"):
        select_partition(str(tmp_path / "flat.parquet"), "latest")
    assert select_partition(str(tmp_path / "flat.parquet"), "2026-11-01").files[0].name == "flat.parquet"

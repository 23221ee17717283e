"""Nightly settings: validated, read from TOML/YAML/JSON, flags win over the file."""

from __future__ import annotations

import pytest

from offline_rl.nightly.config import NightlyConfig, build_config, read_config_file
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


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"states": 4}, "'states' setting .* must be 2 or 3. Got 4"),
        ({"date": "yesterday"}, "'date' setting .* 'latest' or a date"),
        ({"alpha": 0}, "'alpha' setting .* > 0"),
        ({"bootstrap_replicates": 1}, "'bootstrap_replicates'"),
        ({"colour": "blue"}, r"unknown nightly setting\(s\) \['colour'\]"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        NightlyConfig.from_dict({"logs": "logs/", **settings})


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

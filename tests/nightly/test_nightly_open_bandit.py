"""Real data as a new user would run it: the Open Bandit random sample through the nightly.

Issue #12: on these logs (10,000 events, 80 items, 38 clicks) the nightly used to warn that
the IK model found no signal, publish a policy anyway and report a click lift of about -95%
as if it meant something. Now the run is held back and says why.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from offline_rl.data.datasets import load_open_bandit

FAST = "[nightly]\nik_epochs = 5\nik_restarts = 2\nbootstrap_replicates = 200\n"


@pytest.fixture(scope="module")
def open_bandit_logs(tmp_path_factory):
    path = tmp_path_factory.mktemp("open-bandit") / "random.parquet"
    load_open_bandit("random").write_parquet(path)
    return path


def _run(logs, runs, *extra):
    return CliRunner().invoke(main, ["nightly", str(logs), "--date", "2019-11-30", "--runs", str(runs), "--quiet",
                                     *extra])


def _check_held_back(result, runs, *, evaluation_events: int):
    assert result.exit_code == 0, result.output
    assert result.output.startswith("nightly run 2019-11-30: HELD BACK")
    manifest = json.loads((runs / "2019-11-30" / "manifest.json").read_text())
    assert manifest["split"]["evaluation_events"] == evaluation_events
    promotion = manifest["promotion"]
    assert promotion["decision"] == "held_back"
    failed = {check["name"] for check in promotion["checks"] if check["passed"] is False}
    assert {"ik_signal", "primary:click"} <= failed
    click = next(check for check in promotion["checks"] if check["name"] == "primary:click")
    assert "unreliable" in click["sentence"] or "does not clear the margin" in click["sentence"]
    assert not (runs / "current").exists()
    return promotion


def test_open_bandit_random_is_held_back_with_reasons(open_bandit_logs, tmp_path):
    config = tmp_path / "fast.toml"
    config.write_text(FAST)
    runs = tmp_path / "runs"
    result = _run(open_bandit_logs, runs, "--config", str(config), "--no-qriql", "--states", "2",
                  "--no-negative-metrics")
    promotion = _check_held_back(result, runs, evaluation_events=2000)
    assert [check["name"] for check in promotion["checks"]] == ["ik_signal", "primary:click"]
    # the run says why in the terminal, each reason on its own line under the decision
    assert all(f"  - {reason}" in result.output for reason in promotion["reasons"])


@pytest.mark.slow
def test_open_bandit_random_with_default_settings(open_bandit_logs, tmp_path):
    """What a new user gets with no settings at all: held back, dislike named as never seen."""
    runs = tmp_path / "runs"
    promotion = _check_held_back(_run(open_bandit_logs, runs), runs, evaluation_events=2000)
    failed = {check["name"]: check["sentence"] for check in promotion["checks"] if check["passed"] is False}
    assert "found no signal" in failed["ik_signal"]
    assert "never occurs in the 2,000 evaluation events" in failed["negative:dislike"]

"""The morning-after summary says when the IK model found no signal."""

from __future__ import annotations

from pathlib import Path

from offline_rl.nightly.progress import format_summary


def _manifest(fit_metrics):
    return {
        "date": "2024-01-01",
        "wall_seconds": {"prepare": 1.0, "fit_igl": 2.0},
        "rows": {"prepare": {"ik_training_set": 10}, "fit_igl": {"decoded_rewards": 10}},
        "reused_steps": [],
        "metrics": {"fit_igl": fit_metrics},
    }


def test_summary_flags_a_fit_without_signal():
    text = format_summary(Path("runs/x"), _manifest(
        {"ik_found_signal": False, "ik_held_out_nll": 3.0508, "ik_no_signal_nll": 2.3026}))
    line = next(x for x in text.splitlines() if "fit_igl" in x)
    assert "IK found no signal (held-out NLL 3.051, not below no-signal 2.303)" in line


def test_summary_is_quiet_about_a_fit_that_found_the_signal():
    assert "no signal" not in format_summary(Path("runs/x"), _manifest(
        {"ik_found_signal": True, "ik_held_out_nll": 1.7, "ik_no_signal_nll": 1.946}))

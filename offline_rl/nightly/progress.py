"""Progress of the nightly job: a bar over the steps, and the closing summary's text.

The bar shows on stderr, only on a terminal and never with ``quiet``. The summary is text
(:func:`format_summary`) that the caller shows: it is what a person reads the morning after.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm


class Progress:
    """Step-level progress bar on stderr (off when quiet or when stderr is not a terminal)."""

    def __init__(self, *, quiet: bool, total: int = 5) -> None:
        enabled = not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="step", file=sys.stderr, disable=not enabled, leave=False,
                        bar_format="{desc:<28}{bar:20}| {n_fmt}/{total_fmt} steps [{elapsed}]")

    def start(self, name: str) -> None:
        self.bar.set_description_str(f"nightly: {name}")

    def finish(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def format_summary(run_dir: Path, manifest: dict[str, Any]) -> str:
    """The run's steps (rows, seconds, notes), its lift intervals and where to look next."""
    lines = [f"nightly run {manifest['date']} finished: {run_dir}"]
    lines.append(f"  {'step':<10} {'rows':>12} {'seconds':>9}  note")
    for name, seconds in manifest["wall_seconds"].items():
        rows = manifest["rows"].get(name) or {}
        count = max(rows.values()) if rows else ""
        note = "reused" if name in manifest.get("reused_steps", []) else ""
        fitted = manifest["metrics"].get(name, {})
        if fitted.get("ik_found_signal") is False:
            note = (note + "; " if note else "") + (
                f"IK found no signal (held-out NLL {fitted['ik_held_out_nll']:.3f}, not below "
                f"no-signal {fitted['ik_no_signal_nll']:.3f}): decoded rewards are noise")
        lines.append(f"  {name:<10} {count!s:>12} {seconds:>9.1f}  {note}")
    lift = manifest["metrics"].get("evaluate", {}).get("lift", {})
    if lift:
        lines.append("  lift of IGL-P over the logged policy [2.5%, point, 97.5%]:")
        for metric, interval in lift.items():
            values = ", ".join(_fmt(interval.get(key)) for key in ("lower", "point", "upper"))
            lines.append(f"    {metric:<12} [{values}]")
    lines.append(f"  report: {run_dir / 'report.html'}")
    lines.append(f"  query:  offline-rl sql --run {run_dir} --list")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.3f}"

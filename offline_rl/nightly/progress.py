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


#: The summary's headline per decision.
_HEADLINES = {
    "promoted": "PROMOTED: its policy replaces the serving one",
    "held_back": "HELD BACK: the serving policy stays",
}


def format_summary(run_dir: Path, manifest: dict[str, Any], *, current: str | None = None) -> str:
    """The run's decision and its reasons first, then where ``runs/current`` points, the
    hold-out, the steps (rows, seconds, notes), the lift intervals and where to look next."""
    promotion = manifest.get("promotion") or {}
    decision = promotion.get("decision")
    headline = _HEADLINES.get(decision, "no decision recorded")
    lines = [f"nightly run {manifest['date']}: {headline}"]
    for reason in promotion.get("reasons", []):
        lines.append(f"  - {reason}")
    lines.append(f"  runs/current: {current or 'no promoted run yet'}")
    split = manifest.get("split")
    if split:
        lines.append(
            f"  hold-out: fitted on {split['train_events']:,} events up to {split['train_until']}, evaluated on "
            f"{split['evaluation_events']:,} from {split['evaluate_from']}"
        )
    lines.append(f"  run folder: {run_dir}")
    lines.append(f"  {'step':<10} {'rows':>12} {'seconds':>9}  note")
    for name, seconds in manifest["wall_seconds"].items():
        count = _step_rows(manifest["rows"].get(name) or {})
        note = "reused" if name in manifest.get("reused_steps", []) else ""
        fitted = manifest["metrics"].get(name, {})
        if fitted.get("ik_found_signal") is False:
            note = (note + "; " if note else "") + (
                f"IK found no signal (held-out NLL {fitted['ik_held_out_nll']:.3f}, not below "
                f"no-signal {fitted['ik_no_signal_nll']:.3f}): decoded rewards are noise")
        lines.append(f"  {name:<10} {count!s:>12} {seconds:>9.1f}  {note}")
    lift = manifest["metrics"].get("evaluate", {}).get("lift", {})
    if lift:
        lines.append("  lift of IGL-P over the logged policy on the evaluation events [2.5%, point, 97.5%]:")
        for metric, interval in lift.items():
            values = ", ".join(_fmt(interval.get(key)) for key in ("lower", "point", "upper"))
            flag = "" if interval.get("reliable", True) else "  UNRELIABLE"
            lines.append(f"    {metric:<12} [{values}]{flag}")
    lines.append(f"  report: {run_dir / 'report.html'}")
    lines.append(f"  query:  offline-rl sql --run {run_dir} --list")
    return "\n".join(lines)


#: The row count a step's line shows, first found: what it fitted on or evaluated.
_SHOWN_ROWS = ("train_events", "train_steps", "evaluation_events")


def _step_rows(rows: dict[str, int]) -> int | str:
    for key in _SHOWN_ROWS:
        if key in rows:
            return rows[key]
    return max(rows.values()) if rows else ""


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.3f}"

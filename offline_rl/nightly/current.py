"""``runs/current``: the run whose policy is served, swapped atomically.

``runs/current`` is a relative symbolic link to the newest promoted run's folder (by run
date), e.g. ``current -> 2026-11-02``. A symlink rather than a pointer file because every
tool then reads the served run by path with nothing to resolve: ``offline-rl sql --run
runs/current``, ``offline-rl evaluate --policy runs/current``, ``IGLP.load(
"runs/current/models/iglp")``; relative so that the runs folder can be moved or copied whole.

The link is derived state: :func:`update_current` recomputes it from the run folders'
manifests and swaps it by creating the new link under a temporary name and renaming it over
the old one (``rename`` is atomic on POSIX), so a reader sees the old run or the new one,
never a missing or half-written pointer. A crash between publishing a run and swapping the
link leaves ``current`` on the previous promoted run; the next invocation of the nightly job
(even one that finds its run up to date) recomputes and repairs it. A held-back run leaves
the link on the last promoted run; when no run was ever promoted there is no link.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

#: Name of the link inside the runs folder.
CURRENT = "current"

_RUN_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def run_folders(runs: Path) -> list[Path]:
    """The finished run folders of ``runs`` (``YYYY-MM-DD`` with a manifest), oldest first."""
    if not runs.is_dir():
        return []
    return sorted(
        child for child in runs.iterdir()
        if _RUN_NAME.match(child.name) and not child.is_symlink() and (child / "manifest.json").is_file()
    )


def promoted_run(runs: Path) -> Path | None:
    """The newest run folder whose manifest records the decision ``promoted``."""
    for run in reversed(run_folders(runs)):
        promotion = json.loads((run / "manifest.json").read_text()).get("promotion") or {}
        if promotion.get("decision") == "promoted":
            return run
    return None


def current_target(runs: Path) -> str | None:
    """The run ``runs/current`` points at (its folder name), or None without a link."""
    link = runs / CURRENT
    return os.readlink(link) if link.is_symlink() else None


def update_current(runs: Path) -> str | None:
    """Point ``runs/current`` at the newest promoted run; return its name (None: no link).

    Raises
    ------
    ValueError
        When ``runs/current`` exists and is not a symbolic link (someone made a folder there).
    """
    link = runs / CURRENT
    if link.exists() and not link.is_symlink():
        raise ValueError(f"{link} exists and is not a symbolic link; move it away so the nightly job can manage it")
    promoted = promoted_run(runs)
    if promoted is None:
        if link.is_symlink():
            link.unlink()
        return None
    if current_target(runs) == promoted.name:
        return promoted.name
    temporary = runs / f".{CURRENT}-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(promoted.name, temporary, target_is_directory=True)
    os.replace(temporary, link)
    return promoted.name

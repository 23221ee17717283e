"""What a run records about itself: hashes of inputs and SQL, versions, git SHA."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
from pathlib import Path

MANIFEST_SCHEMA_VERSION = "1"
_LIBRARIES = ("offline-rl", "numpy", "polars", "duckdb", "pyarrow", "torch", "scikit-learn", "click")


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_sha() -> str | None:
    """The checkout's commit when the package runs from one, else None."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = completed.stdout.strip()
    return sha or None


def sql_file_hashes() -> dict[str, str]:
    """sha256 of every SQL model the toolkit ships, by path relative to the SQL root."""
    from offline_rl.data.sql_jobs import list_models, sql_root

    root = sql_root()
    return {str(model.path.relative_to(root)): sha256_file(model.path) for model in list_models()}

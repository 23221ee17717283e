"""Model artifacts shared by every learner: one folder with ``model.pt``, ``config.json``
and ``manifest.json`` (plus any columnar tables the learner keeps, such as
``vocabularies.parquet``), written atomically, loaded with ``torch.load(weights_only=True)``.

``model.pt`` holds only tensors (a flat state dict, never a pickled learner);
``config.json`` holds the artifact's format, its version, the learner's config and its small
fitted state (curves, flags); state that grows with the data (id vocabularies: millions of
user ids) goes into Parquet tables beside it, never into JSON; ``manifest.json`` records when
and with what it was made. Also here: :func:`torch_threads`, since every learner pins torch's thread count.
"""

from __future__ import annotations

import io
import json
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.data.atomic import atomic_write_bytes, atomic_write_parquet, atomic_write_text

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"


@contextmanager
def torch_threads(limit: int) -> Iterator[None]:
    """Run torch on at most ``limit`` CPU threads, restoring the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, min(limit, os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def save_artifact(
    directory: str | os.PathLike[str],
    *,
    artifact_format: str,
    version: str,
    state: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    fitted: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    tables: Mapping[str, pl.DataFrame] | None = None,
) -> Path:
    """Write ``model.pt``, ``config.json``, ``manifest.json`` and each of ``tables`` (as
    ``<name>.parquet``) into ``directory``, each file atomically."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (tables or {}).items():
        atomic_write_parquet(table, out / f"{name}.parquet")
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(out / MODEL_FILE, buffer.getvalue())
    document = {"format": artifact_format, "format_version": version, "config": dict(config), "fitted": dict(fitted)}
    atomic_write_text(out / CONFIG_FILE, json.dumps(document, indent=2) + "\n")
    record = {
        "format": artifact_format,
        "format_version": version,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(manifest or {}),
        "libraries": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "polars": pl.__version__,
        },
    }
    atomic_write_text(out / MANIFEST_FILE, json.dumps(record, indent=2) + "\n")
    return out


def load_artifact(
    directory: str | os.PathLike[str],
    *,
    artifact_format: str,
    name: str,
    versions: Sequence[str] | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config.json document, state dict)`` of an artifact of ``artifact_format``.

    ``versions``, when given, are the format versions the caller can read; another one
    (e.g. written by a newer release) is refused rather than half-read.
    """
    folder = Path(directory)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"No {name} artifact at '{folder}': missing {CONFIG_FILE}.")
    document = json.loads(config_path.read_text())
    if document.get("format") != artifact_format:
        # "an IGLP", "an MTRec...", "a QRIQL": the article follows how the name is spoken.
        article = "an" if name[0] in "AEFHILMNORSX" else "a"
        raise ValueError(
            f"'{config_path}' is not {article} {name} artifact (format {document.get('format')!r}, "
            f"expected {artifact_format!r})."
        )
    if versions is not None and str(document.get("format_version")) not in versions:
        raise ValueError(
            f"'{config_path}' is format version {document.get('format_version')!r} of {name}; "
            f"this release reads versions {list(versions)}."
        )
    state = torch.load(folder / MODEL_FILE, weights_only=True, map_location="cpu")
    return document, state


def load_table(directory: str | os.PathLike[str], name: str, *, artifact: str) -> pl.DataFrame:
    """The ``<name>.parquet`` table :func:`save_artifact` wrote beside the model."""
    path = Path(directory) / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{artifact} artifact at '{directory}' is missing {path.name}.")
    return pl.read_parquet(path)


def prefixed(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}

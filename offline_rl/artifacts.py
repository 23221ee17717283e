"""Model artifacts shared by every learner: one folder with ``model.pt``, ``config.json``
and ``manifest.json`` (plus any columnar tables the learner keeps, such as
``vocabularies.parquet``), written atomically, loaded with ``torch.load(weights_only=True)``.

``model.pt`` holds only tensors (a flat state dict, never a pickled learner);
``config.json`` holds the artifact's format, its version, the learner's config and its small
fitted state (curves, flags); state that grows with the data (id vocabularies: millions of
user ids) goes into Parquet tables beside it, never into JSON; ``manifest.json`` records when
and with what it was made, and, for a learner that reports it, how it ran (device, threads,
number of processes and their backend). :func:`torch_threads` lives in
:mod:`offline_rl.runtime` and is re-exported here for the learners that import it from this
module.
"""

from __future__ import annotations

import io
import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.data.atomic import atomic_write_bytes, atomic_write_parquet, atomic_write_text
from offline_rl.runtime import torch_threads

__all__ = ["CONFIG_FILE", "MANIFEST_FILE", "MODEL_FILE", "load_artifact", "load_table",
           "prefixed", "runtime_record", "save_artifact", "torch_threads"]

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"


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
    runtime: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.pt``, ``config.json``, ``manifest.json`` and each of ``tables`` (as
    ``<name>.parquet``) into ``directory``, each file atomically.

    ``runtime`` (see :func:`runtime_record`) goes into the manifest under ``"runtime"``: it
    says how the fit ran, which the model's definition (``config.json``) does not.
    """
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
        **({"runtime": dict(runtime)} if runtime is not None else {}),
        "libraries": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "polars": pl.__version__,
        },
    }
    atomic_write_text(out / MANIFEST_FILE, json.dumps(record, indent=2) + "\n")
    return out


def runtime_record(*, device: torch.device | str, threads: int, world_size: int,
                   backend: str | None) -> dict[str, Any]:
    """How a fit ran, for the manifest: the device it trained on, torch CPU threads per
    process, the number of processes (``world_size``, 1 without DDP) and their collective
    backend (``'gloo'``, ``'nccl'``, or None for one process)."""
    return {"device": str(device), "threads": int(threads), "world_size": int(world_size),
            "backend": backend}


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

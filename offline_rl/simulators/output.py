"""Write a simulation to disk: logs, actions and the hidden truth, atomically."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from offline_rl.simulators.simulation import SimulatedLogs


def write_simulation(sim: SimulatedLogs, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``logs.parquet``, ``actions.parquet`` (if any) and ``truth.json`` atomically.

    Returns the written paths by name (``"logs"``, ``"actions"``, ``"truth"``).
    """
    from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"logs": atomic_write_parquet(sim.logs, out / "logs.parquet")}
    if sim.actions is not None:
        written["actions"] = atomic_write_parquet(sim.actions, out / "actions.parquet")
    written["truth"] = atomic_write_text(
        out / "truth.json", json.dumps(to_jsonable(sim.truth), indent=2, sort_keys=True) + "\n"
    )
    return written


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and dataclasses into JSON-able Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value

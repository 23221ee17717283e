"""QR-IQL fitted into a folder: the model artifact and ``mental_rewards.parquet``.

:func:`fit_to_folder` is the one way the toolkit turns trajectories into files: join the
process group ``torchrun`` started (if any), fit on every process, have rank 0 save the
artifact (``model/``: ``model.pt``, ``config.json``, ``manifest.json``), leave the group, then
have rank 0 score every row and write ``mental_rewards.parquet`` (streamed, row group by row
group, for a Parquet input). Each file is written through a temporary file and a rename.
``offline-rl fit-qriql`` calls :func:`fit_logs_to_folder`, which first decides what its input
is: raw logs (the ``user_trajectories`` SQL job builds the frame in memory) or a
``user_trajectories.parquet`` written by ``offline-rl prepare`` (streamed; the input a
distributed fit needs).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from offline_rl.data.atomic import atomic_write_text
from offline_rl.data.hidden_reward import drop_hidden_reward
from offline_rl.data.prepare import PrepareConfig
from offline_rl.qriql.config import QRIQLConfig
from offline_rl.qriql.features import REQUIRED_COLUMNS
from offline_rl.qriql.learner import QRIQL, REWARDS_FILE
from offline_rl.runtime import (
    Checkpointing,
    ParquetRowGroups,
    World,
    current_world,
    on_main_rank,
    process_group,
)

log = logging.getLogger(__name__)

MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoint"
PREPARE_CONFIG_FILE = "prepare_config.json"


@dataclass(frozen=True, eq=False)
class FitOutputs:
    """What :func:`fit_to_folder` produced. ``model_dir`` and ``rewards_path`` are where rank 0
    wrote; ``world`` is the process group the fit ran in (rank 0 of 1 without one)."""

    model: QRIQL
    model_dir: Path
    rewards_path: Path
    rows: int
    world: World
    streamed: bool


def fit_to_folder(
    trajectories: pl.DataFrame | ParquetRowGroups,
    out_dir: str | os.PathLike[str],
    *,
    config: QRIQLConfig | None = None,
    actions: pl.DataFrame | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    prepare_config: PrepareConfig | None = None,
) -> FitOutputs:
    """Fit QR-IQL on ``trajectories`` and write ``out_dir/model/`` and ``out_dir/mental_rewards.parquet``.

    Parameters
    ----------
    trajectories : polars.DataFrame or ParquetRowGroups
        The ``user_trajectories`` rows without the hidden reward. Under ``torchrun`` it must
        be a :class:`ParquetRowGroups` (each process reads its own row groups).
    config : QRIQLConfig, optional
        ``QRIQLConfig()`` when omitted; its ``device`` also chooses the backend (NCCL for
        CUDA, gloo for the CPU).
    checkpoint_every, resume
        Save the training state to ``out_dir/checkpoint/`` every ``checkpoint_every`` steps;
        ``resume`` continues from it (see :class:`offline_rl.runtime.Checkpointing`).
    prepare_config : PrepareConfig, optional
        Recorded as ``prepare_config.json`` when the trajectories were built from raw logs.
    """
    config = config or QRIQLConfig()
    out = Path(out_dir)
    checkpointing = (Checkpointing(out / CHECKPOINT_DIR, checkpoint_every, resume)
                     if checkpoint_every else None)
    with process_group(config.device) as world:
        model = QRIQL(config).fit(trajectories, actions=actions, checkpointing=checkpointing)
        # Inside the group, so every process learns whether the artifact was written.
        on_main_rank(lambda: model.save(out / MODEL_DIR))
    # The group is gone: the other processes are done, and scoring every row (a long read of
    # a large input) cannot run into a collective's timeout.
    rewards_path = out / REWARDS_FILE
    if world.is_main:
        model.write_mental_rewards(trajectories, rewards_path)
        if prepare_config is not None:
            atomic_write_text(out / PREPARE_CONFIG_FILE, json.dumps(prepare_config.to_dict(), indent=2) + "\n")
    rows = trajectories.total_rows if isinstance(trajectories, ParquetRowGroups) else trajectories.height
    return FitOutputs(model, out / MODEL_DIR, rewards_path, rows, world,
                      isinstance(trajectories, ParquetRowGroups))


def is_trajectories_parquet(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> bool:
    """True when ``source`` is Parquet holding the ``user_trajectories`` columns (not raw logs)."""
    from offline_rl.data.loading import resolve_sources

    paths = resolve_sources(source)
    if not all(path.name.lower().endswith(".parquet") for path in paths):
        return False
    return set(REQUIRED_COLUMNS) <= set(pq.read_schema(paths[0]).names)


def fit_logs_to_folder(
    logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    config: QRIQLConfig | None = None,
    prepare_config: PrepareConfig | None = None,
    vocabulary: tuple[str, ...] | None = None,
    actions: pl.DataFrame | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> FitOutputs:
    """:func:`fit_to_folder` on raw logs or on a prepared ``user_trajectories`` Parquet.

    A Parquet input that holds the ``user_trajectories`` columns (``offline-rl prepare``
    writes it) is streamed row group by row group and ``prepare_config`` does not apply;
    anything else is raw logs, validated against the canonical schema (``vocabulary`` the
    allowed feedback signals) and turned into trajectories in memory by the SQL job with
    ``prepare_config`` (each signal declared positive or negative). A distributed fit needs
    the prepared Parquet.
    """
    if is_trajectories_parquet(logs):
        source: pl.DataFrame | ParquetRowGroups = ParquetRowGroups(logs)
        prepare_config = None
    else:
        world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world_size > 1 or current_world().is_distributed:
            raise ValueError(
                f"{logs}: a distributed fit ({world_size} processes) streams a user_trajectories "
                "Parquet, and this input is raw logs. Run `offline-rl prepare LOGS --out DIR` "
                "once, then fit on DIR/user_trajectories.parquet."
            )
        from offline_rl.data.prepare import user_trajectories

        prepare_config = prepare_config or PrepareConfig()
        source = drop_hidden_reward(user_trajectories(logs, config=prepare_config, vocabulary=vocabulary))
    return fit_to_folder(source, out_dir, config=config, actions=actions,
                         checkpoint_every=checkpoint_every, resume=resume,
                         prepare_config=prepare_config)

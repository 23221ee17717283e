"""MTRec's Table 1 on an Amazon category: ``run_amazon_experiment(directory, category, out)``.

Data: the user's ``reviews_<category>_5.json`` and ``meta_<category>.json`` (gzip or not;
:func:`offline_rl.data.amazon.category_files`, :func:`~offline_rl.data.amazon.load_amazon`).
Users are split once (seeded):

* ``ncis_fraction`` of the users (the paper's 10%) are held out entirely: their *complete*
  trajectories score NCIS, ``p_t`` being the model's CTR of each item the user reviewed, one
  trajectory (and bootstrap cluster) per user. The sampled negatives are not part of a user's
  trajectory, so they are left out of ``rho``.
* The other users are the training users. As in DIN, their last review (positive and sampled
  negative) is the AUC test row and every earlier position a training sample. The reward
  models fit on their train positions only (:meth:`AmazonDataset.train_trajectories`), so no
  model ever reads a test row; the CTR models get the rewards of their training samples
  joined by ``event_id`` (never by row position).

With ``tune_alignment``, ``validation_fraction`` of the training users become the validation
split: reward and CTR models of the grid fit on the remaining training users, and the
validation users' last reviews choose kappa and the standardisation.

Written into ``out_dir`` (atomically): ``mtrec_table.csv``/``.md`` (the same table as the
simulator's, :func:`offline_rl.mtrec.protocol.alignment_table`), ``alignment_grid.csv`` when
tuning, ``mental_reward_by_position.csv`` (Fig. 3(a) on the held-out users) and
``summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl.data.amazon import AmazonDataset, category_files, load_amazon
from offline_rl.data.atomic import atomic_write_text
from offline_rl.mtrec.experiment import ExperimentConfig, run_alignment_table
from offline_rl.mtrec.protocol import AlignmentData, fit_reward_models, split_users

logger = logging.getLogger(__name__)


def amazon_alignment_data(data: AmazonDataset, train_users: list[Any],
                          ncis_users: list[Any]) -> AlignmentData:
    """Table 1's rows: fit on the training users' train positions, AUC on their last review,
    NCIS on the held-out users' complete trajectories of reviewed items."""
    samples = data.samples
    train = samples.filter(pl.col("user_id").is_in(train_users))
    auc_rows = train.filter(pl.col("split") == "test")
    ncis_rows = samples.filter(pl.col("user_id").is_in(ncis_users) & (pl.col("label") == 1))
    users = ncis_rows["user_id"].to_numpy()
    return AlignmentData(
        reward_train=data.train_trajectories(users=train_users),
        ctr_train=train.filter(pl.col("split") == "train"),
        auc_rows=auc_rows, auc_clusters=auc_rows["user_id"].to_numpy(),
        ncis_rows=ncis_rows, ncis_trajectories=users, ncis_clusters=users,
        item_categories=data.item_categories(), label="label")


def amazon_selection(cfg: ExperimentConfig, seed: int, data: AmazonDataset,
                     train_users: list[Any]) -> AlignmentData:
    """The validation split: ``cfg.validation_fraction`` of the training users (drawn from
    ``(seed, 11)``); models fit on the others' train positions, AUC on the validation users'
    last reviews."""
    fit_users, validation_users = split_users(train_users, cfg.validation_fraction, [seed, 11])
    samples = data.samples
    validation = samples.filter(pl.col("user_id").is_in(validation_users)
                                & (pl.col("split") == "test"))
    empty = samples.head(0)
    return AlignmentData(
        reward_train=data.train_trajectories(users=fit_users),
        ctr_train=samples.filter(pl.col("user_id").is_in(fit_users)
                                 & (pl.col("split") == "train")),
        auc_rows=validation, auc_clusters=validation["user_id"].to_numpy(),
        ncis_rows=empty, ncis_trajectories=np.zeros(0, dtype=object),
        ncis_clusters=np.zeros(0, dtype=object), item_categories=data.item_categories(),
        label="label")


def mental_reward_by_position(data: AmazonDataset, users: list[Any],
                              models: dict[str, Any]) -> pl.DataFrame:
    """Mean r* of the reviewed (positive) steps by review position (< 10) on ``users``'
    complete trajectories, per reward model (Fig. 3(a) on held-out users)."""
    trajectories = data.trajectories.filter(pl.col("user_id").is_in(users))
    frames = []
    for name, model in models.items():
        rewards = model.mental_rewards(trajectories).join(
            trajectories.select("event_id", "position"), on="event_id")
        frames.append(rewards.filter((pl.col("response") == 1) & (pl.col("position") < 10))
                      .group_by("position")
                      .agg(pl.col("mental_reward").mean().alias("mean_mental_reward"),
                           pl.col("mental_reward").std().alias("sd"), pl.len().alias("n"))
                      .with_columns(pl.lit(name).alias("reward_model")))
    return pl.concat(frames).select("reward_model", "position", "mean_mental_reward", "sd",
                                    "n").sort("reward_model", "position")


def run_amazon_experiment(
    directory: str | os.PathLike[str], category: str, out_dir: str | os.PathLike[str],
    seed: int = 0, *, config: ExperimentConfig | None = None, progress: bool = False,
) -> dict[str, Any]:
    """Table 1 on the Amazon ``category`` found in ``directory`` (see the module docstring).

    ``progress`` shows tqdm bars (stderr) while reading the files and over the CTR fits.
    Returns the summary (also written as ``summary.json``).
    """
    cfg = config or ExperimentConfig()
    started = time.perf_counter()
    reviews_path, meta_path = category_files(directory, category)
    data = load_amazon(reviews_path, meta_path, seed=seed, progress=progress)
    loaded = time.perf_counter() - started
    users = data.samples["user_id"].unique().sort().to_list()
    train_users, ncis_users = split_users(users, cfg.ncis_fraction, [seed, 7])
    stats = {"reviews_file": str(reviews_path), "meta_file": str(meta_path),
             "users": len(users), "items": data.items.height,
             "categories": data.items["category"].n_unique(),
             "samples": data.samples.height, "trajectory_steps": data.trajectories.height,
             "train_users": len(train_users), "ncis_users": len(ncis_users),
             "load_seconds": loaded}
    logger.info("Amazon %s: %d users, %d items, %d categories, %d samples (%.1fs)", category,
                stats["users"], stats["items"], stats["categories"], stats["samples"], loaded)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    table_data = amazon_alignment_data(data, train_users, ncis_users)
    models = fit_reward_models(cfg, table_data.reward_train, seed, gamma=cfg.gamma,
                               item_categories=table_data.item_categories)
    rewards = {name: model.mental_rewards(table_data.reward_train)
               for name, model in models.items()}
    for name, model in models.items():
        logger.info("%s: %.1fs, final loss %.4f", name, model.fit_seconds_, model.loss_curve_[-1])
    selection = (amazon_selection(cfg, seed, data, train_users) if cfg.tune_alignment
                 else None)
    table = run_alignment_table(cfg, seed, table_data, selection, rewards, out,
                                progress=progress)
    by_position = mental_reward_by_position(data, ncis_users, models)
    atomic_write_text(out / "mental_reward_by_position.csv", by_position.write_csv())
    summary = {
        "seed": seed,
        "data": f"Amazon {category}",
        **stats,
        "config": cfg.to_dict(),
        "table": table.to_dicts(),
        "mental_reward_by_position": by_position.to_dicts(),
        "seconds": time.perf_counter() - started,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary

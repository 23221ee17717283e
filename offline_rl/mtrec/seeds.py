"""The MTRec experiment over several seeds: one library call for ``offline-rl experiment mtrec``.

One seed writes its tables straight into ``out_dir``; several write ``out_dir/seed-<S>/`` each,
then ``mtrec_seeds.csv`` / ``mtrec_seeds.md`` (per aligned model: min / median / max over the
seeds of every paired difference and how many seeds are significantly higher / lower,
:func:`offline_rl.mtrec.protocol.summarise_seeds`) and ``mtrec_per_seed.csv`` (every seed's
table stacked).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from offline_rl.data.atomic import atomic_write_text
from offline_rl.mtrec.experiment import ExperimentConfig, run_mtrec_experiment
from offline_rl.mtrec.protocol import seeds_markdown, summarise_seeds, table_markdown


def run_mtrec_seeds(
    out_dir: str | os.PathLike[str], seeds: Sequence[int], *,
    config: ExperimentConfig | None = None, amazon: tuple[str | os.PathLike[str], str] | None = None,
    progress: bool = False,
) -> str:
    """Run the experiment for every seed (on the simulator, or on ``amazon = (directory,
    category)``) and return the markdown to show: the table of a single seed, or the summary
    over several."""
    if not seeds:
        raise ValueError("run_mtrec_seeds needs at least one seed.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat; got {list(seeds)}.")
    out = Path(out_dir)
    tables: dict[int, pl.DataFrame] = {}
    for seed in seeds:
        folder = out if len(seeds) == 1 else out / f"seed-{seed}"
        summary = _run_one(folder, seed, config, amazon, progress)
        tables[seed] = pl.DataFrame(summary["table"], infer_schema_length=None)
    if len(seeds) == 1:
        return table_markdown(tables[seeds[0]])
    summary_table = summarise_seeds(tables)
    stacked = pl.concat([t.with_columns(pl.lit(s).alias("seed")) for s, t in tables.items()],
                        how="diagonal_relaxed")
    atomic_write_text(out / "mtrec_per_seed.csv", stacked.write_csv())
    atomic_write_text(out / "mtrec_seeds.csv", summary_table.write_csv())
    text = seeds_markdown(summary_table)
    atomic_write_text(out / "mtrec_seeds.md", text)
    return text


def _run_one(folder: Path, seed: int, config, amazon, progress) -> dict[str, Any]:
    if amazon is None:
        return run_mtrec_experiment(folder, seed, config=config, progress=progress)
    from offline_rl.mtrec.amazon import run_amazon_experiment

    directory, category = amazon
    return run_amazon_experiment(directory, category, folder, seed, config=config,
                                 progress=progress)

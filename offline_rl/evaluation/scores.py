"""Candidate policies' scores at the boundary: read, validate, align with the logs.

SCORES format (wide): a Parquet file with an ``event_id`` column and one or more
probability columns, each column one candidate policy (named by the column) holding
``pi(a_i | x_i)``, the candidate's probability of the action the logs show for that event.
Every logged ``event_id`` must appear exactly once; extra event ids are ignored.

A *fitted run folder* may be given instead: it must contain ``policy_scores.parquet`` in
the format above, and may contain ``learning_curve.parquet`` (or ``.csv``): a step/epoch
column first, then numeric columns, plotted in the report.

Every rule broken raises one :class:`ValueError` naming the file, column, row and rule.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

SCORES_FILE = "policy_scores.parquet"
LEARNING_CURVE_FILES = ("learning_curve.parquet", "learning_curve.csv")


def resolve_scores(path: str | os.PathLike[str]) -> tuple[Path, dict[str, pl.DataFrame]]:
    """The scores file behind ``path`` (a file or a run folder) and any learning curves."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"scores input {path} does not exist (expected a Parquet file or a fitted run folder)"
        )
    curves: dict[str, pl.DataFrame] = {}
    if path.is_dir():
        scores = path / SCORES_FILE
        if not scores.is_file():
            raise ValueError(
                f"{path}: a fitted run folder must contain {SCORES_FILE}; found {sorted(p.name for p in path.iterdir())}"
            )
        for name in LEARNING_CURVE_FILES:
            curve = path / name
            if curve.is_file():
                frame = pl.read_parquet(curve) if curve.suffix == ".parquet" else pl.read_csv(curve)
                curves[path.name] = frame
                break
        return scores, curves
    return path, curves


def load_policy_scores(path: str | os.PathLike[str], event_ids: pl.Series) -> dict[str, np.ndarray]:
    """Read SCORES and return ``{policy: probabilities}`` in the order of ``event_ids``.

    Parameters
    ----------
    path
        The scores Parquet file.
    event_ids
        The logs' ``event_id`` column.

    Raises
    ------
    ValueError
        Unreadable file, no ``event_id`` or no policy column, a non-numeric, null, NaN or
        out-of-[0, 1] probability, a duplicated event id, or a logged event without a score.
    """
    path = Path(path)
    try:
        scores = pl.read_parquet(path)
    except Exception as error:  # polars raises several types for a non-Parquet file
        raise ValueError(
            f"{path}: cannot read the scores as Parquet ({type(error).__name__}: {error})"
        ) from error
    if "event_id" not in scores.columns:
        raise ValueError(
            f'{path}: unable to find column "event_id"; valid columns: {scores.columns}'
        )
    policies = [c for c in scores.columns if c != "event_id"]
    if not policies:
        raise ValueError(
            f"{path}: no policy column; expected event_id plus one probability column per candidate policy"
        )
    for column in policies:
        dtype = scores[column].dtype
        if not dtype.is_numeric():
            raise ValueError(
                f"{path}: column {column!r} must hold probabilities (numbers); found dtype {dtype}"
            )
        values = scores[column].cast(pl.Float64)
        bad = values.is_null() | values.is_nan() | (values < 0) | (values > 1)
        if bad.any():
            row = int(bad.arg_max())
            value = values[row]
            rule = (
                "is null" if value is None else "is NaN" if value != value else "is outside [0, 1]"
            )
            raise ValueError(
                f"{path}: column {column!r} row {row} (event_id {scores['event_id'][row]!r}) {rule}: "
                f"{value!r}; a probability of the logged action in [0, 1] is required"
            )
    ids = scores["event_id"]
    if ids.is_null().any():
        row = int(ids.is_null().arg_max())
        raise ValueError(f"{path}: column 'event_id' row {row} is null")
    try:
        ids = ids.cast(event_ids.dtype, strict=True)
    except Exception as error:
        raise ValueError(
            f"{path}: column 'event_id' has dtype {scores['event_id'].dtype} but the logs' event_id is {event_ids.dtype}"
        ) from error
    duplicated = ids.is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_max())
        raise ValueError(
            f"{path}: column 'event_id' row {row}: event_id {ids[row]!r} appears more than once"
        )
    scores = scores.with_columns(ids.alias("event_id"))
    logs = pl.DataFrame({"event_id": event_ids}).with_row_index("__row")
    joined = logs.join(
        scores.with_columns(pl.lit(True).alias("__found")), on="event_id", how="left"
    ).sort("__row")
    missing = joined["__found"].is_null()
    if missing.any():
        row = int(missing.arg_max())
        raise ValueError(
            f"{path}: column 'event_id': logged event_id {joined['event_id'][row]!r} (logs row {row}) has no score; "
            f"{int(missing.sum())} of {joined.height} logged events are missing"
        )
    return {column: joined[column].cast(pl.Float64).to_numpy() for column in policies}

"""A reward model's predictions at the boundary: read, validate, align with the logs (DM, DR).

REWARD MODEL format (long in metrics): a Parquet file with columns

* ``event_id``: a logged event (same type as the logs' ``event_id``);
* ``metric``: the feedback signal the prediction is for (e.g. ``click``);
* ``logged``: ``q(x_i, a_i)``, the model's predicted reward of the action the logs show;
* one column per candidate policy of SCORES, named like it: ``q_pi(x_i) = sum_a pi(a | x_i)
  q(x_i, a)``, the model's predicted reward under that policy's full distribution over
  the event's candidates.

DM and DR need only these two numbers per event (:mod:`.estimators`), so the file holds
them rather than ``q`` for every (event, action) pair, which would also need every
candidate's full distribution. A metric present in the file gets DM and DR rows; its every
logged event must appear exactly once; extra event ids are ignored. Predictions must be
finite numbers; a prediction outside [0, 1] for a 0/1 metric is allowed (a linear model
may produce one) but is logged as a warning.

Every rule broken raises one :class:`ValueError` naming the file, column, row and rule.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from offline_rl.evaluation.design import RewardModel

logger = logging.getLogger(__name__)

#: Columns every reward-model file has besides one column per candidate policy.
KEY_COLUMNS = ("event_id", "metric", "logged")


def load_reward_models(
    path: str | os.PathLike[str],
    event_ids: pl.Series,
    *,
    policies: Sequence[str],
    signals: Iterable[str],
) -> dict[str, RewardModel]:
    """Read a REWARD MODEL file and return ``{metric: RewardModel}`` in the logs' row order.

    Parameters
    ----------
    path
        The Parquet file.
    event_ids
        The logs' ``event_id`` column.
    policies
        Candidate policy names (the SCORES columns); each must have a column here.
    signals
        Feedback signals present in the logs; every ``metric`` value must be one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reward model file {path} does not exist")
    try:
        frame = pl.read_parquet(path)
    except Exception as error:  # polars raises several types for a non-Parquet file
        raise ValueError(
            f"{path}: cannot read the reward model as Parquet ({type(error).__name__}: {error})"
        ) from error
    for column in (*KEY_COLUMNS, *policies):
        if column not in frame.columns:
            what = "a policy column" if column in policies else "a required column"
            raise ValueError(
                f'{path}: unable to find column "{column}" ({what}); valid columns: {frame.columns}'
            )
    extra = [c for c in frame.columns if c not in (*KEY_COLUMNS, *policies)]
    if extra:
        raise ValueError(
            f"{path}: column {extra[0]!r} is neither {list(KEY_COLUMNS)} nor a candidate policy "
            f"of the scores ({list(policies)})"
        )
    for column in ("event_id", "metric"):
        nulls = frame[column].is_null()
        if nulls.any():
            raise ValueError(f"{path}: column {column!r} row {int(nulls.arg_max())} is null")
    if frame["metric"].dtype != pl.String:
        raise ValueError(
            f"{path}: column 'metric' must hold feedback signal names (strings); found dtype "
            f"{frame['metric'].dtype}"
        )
    present = set(signals)
    unknown = frame["metric"].is_in(sorted(present)).not_()
    if unknown.any():
        row = int(unknown.arg_max())
        raise ValueError(
            f"{path}: column 'metric' row {row} is {frame['metric'][row]!r}, a signal that never "
            f"occurs in the logs' feedback; signals present: {sorted(present)}"
        )
    for column in ("logged", *policies):
        dtype = frame[column].dtype
        if not dtype.is_numeric():
            raise ValueError(
                f"{path}: column {column!r} must hold predicted rewards (numbers); found dtype {dtype}"
            )
        values = frame[column].cast(pl.Float64)
        bad = values.is_null() | values.is_nan() | values.is_infinite()
        if bad.any():
            row = int(bad.arg_max())
            raise ValueError(
                f"{path}: column {column!r} row {row} (event_id {frame['event_id'][row]!r}, metric "
                f"{frame['metric'][row]!r}) is {values[row]!r}; a finite predicted reward is required"
            )
    try:
        ids = frame["event_id"].cast(event_ids.dtype, strict=True)
    except Exception as error:
        raise ValueError(
            f"{path}: column 'event_id' has dtype {frame['event_id'].dtype} but the logs' event_id "
            f"is {event_ids.dtype}"
        ) from error
    frame = frame.with_columns(ids.alias("event_id"))
    duplicated = frame.select("event_id", "metric").is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_max())
        raise ValueError(
            f"{path}: column 'event_id' row {row}: event_id {frame['event_id'][row]!r} "
            f"appears more than once for metric {frame['metric'][row]!r}"
        )
    logs = pl.DataFrame({"event_id": event_ids}).with_row_index("__row")
    models: dict[str, RewardModel] = {}
    for metric in frame["metric"].unique(maintain_order=True).to_list():
        part = frame.filter(pl.col("metric") == metric).with_columns(pl.lit(True).alias("__found"))
        joined = logs.join(part, on="event_id", how="left").sort("__row")
        missing = joined["__found"].is_null()
        if missing.any():
            row = int(missing.arg_max())
            raise ValueError(
                f"{path}: column 'event_id': logged event_id {joined['event_id'][row]!r} (logs row "
                f"{row}) has no prediction for metric {metric!r}; {int(missing.sum())} of "
                f"{joined.height} logged events are missing"
            )
        arrays = {c: joined[c].cast(pl.Float64).to_numpy() for c in ("logged", *policies)}
        outside = sum(int(((a < 0) | (a > 1)).sum()) for a in arrays.values())
        if outside:
            logger.warning(
                "%s: %d predictions for metric %r lie outside [0, 1]", path, outside, metric
            )
        models[metric] = RewardModel(
            logged=arrays["logged"],
            under_policy={name: arrays[name] for name in policies},
        )
    return models


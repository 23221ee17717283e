"""Amazon review dumps -> DIN-format CTR samples and QR-IQL trajectories (no torch).

Inputs are the files the user supplies (McAuley et al., 2015):

* ``reviews_<Category>_5.json``: one JSON object per line with at least ``reviewerID``,
  ``asin`` and ``unixReviewTime`` (the 5-core subset);
* ``meta_<Category>.json``: one object per line with ``asin`` and ``categories`` (a list of
  category paths). The original dumps write Python literals (single quotes), so each line is
  read as JSON and, failing that, with :func:`ast.literal_eval`.

Following DIN's preprocessing (and MTRec Appendix A.4): each user's reviews are sorted by time;
for every position ``i >= 1`` the history is the items reviewed before ``i``, the positive is
the item reviewed at ``i`` (label 1) and one negative is an item drawn uniformly from the
catalogue that the user never reviewed (label 0). A user's last position is the test split.
An item's category is the last entry of its first category path (DIN's choice); items
without metadata get ``"unknown"``.

:func:`load_amazon` also returns the same interactions as a ``user_trajectories`` table for
QR-IQL: per user, one session whose steps are the sampled negatives (response 0) and the
positives (response 1), the two of each position in a seeded random order (so the response is
not given away by the step's parity).
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl.errors import SchemaError

REVIEW_FIELDS = ("reviewerID", "asin", "unixReviewTime")
UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True, eq=False)
class AmazonDataset:
    """What :func:`load_amazon` returns.

    Attributes
    ----------
    samples : polars.DataFrame
        DIN-format rows: ``user_id`` (str), ``position``, ``history_items`` list[i64],
        ``history_categories`` list[str], ``item`` i64, ``category`` str, ``label`` i64 (1 = the
        reviewed item, 0 = the sampled negative), ``split`` ('train' / 'test').
    trajectories : polars.DataFrame
        The ``user_trajectories`` columns (one session per user) plus ``split``.
    items : polars.DataFrame
        ``item`` i64, ``asin`` str, ``category`` str: the id map (items numbered by sorted asin).
    """

    samples: pl.DataFrame
    trajectories: pl.DataFrame
    items: pl.DataFrame

    def item_categories(self) -> dict[int, str]:
        """Item id -> category, for :meth:`QRIQL.fit` and the CTR backbones."""
        return dict(zip(self.items["item"].to_list(), self.items["category"].to_list(),
                        strict=True))


def _parse_line(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError) as error:
            raise SchemaError(
                f"{path}: line {number} is neither JSON nor a Python literal ({error}); "
                "expected one review/metadata object per line"
            ) from None
    if not isinstance(value, dict):
        raise SchemaError(f"{path}: line {number} holds a {type(value).__name__}, expected an object")
    return value


def _lines(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"No such file: '{path}'.")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def read_reviews(path: str | os.PathLike[str]) -> pl.DataFrame:
    """``reviewerID`` (str), ``asin`` (str), ``unixReviewTime`` (i64) of every review line."""
    path = Path(path)
    rows = []
    for number, line in _lines(path):
        value = _parse_line(line, path, number)
        missing = [f for f in REVIEW_FIELDS if f not in value]
        if missing:
            raise SchemaError(
                f"{path}: line {number} lacks field(s) {missing}; a review needs {list(REVIEW_FIELDS)}"
            )
        try:
            time = int(value["unixReviewTime"])
        except (TypeError, ValueError):
            raise SchemaError(
                f"{path}: line {number}, field 'unixReviewTime' is {value['unixReviewTime']!r}; "
                "expected an integer (seconds since 1970)"
            ) from None
        rows.append((str(value["reviewerID"]), str(value["asin"]), time))
    if not rows:
        raise SchemaError(f"{path}: no reviews found")
    return pl.DataFrame(rows, schema={"reviewerID": pl.String, "asin": pl.String,
                                      "unixReviewTime": pl.Int64}, orient="row")


def read_meta(path: str | os.PathLike[str]) -> pl.DataFrame:
    """``asin`` and ``category`` (last entry of the first category path) of every item."""
    path = Path(path)
    rows = []
    for number, line in _lines(path):
        value = _parse_line(line, path, number)
        if "asin" not in value:
            raise SchemaError(f"{path}: line {number} lacks field 'asin'")
        categories = value.get("categories") or []
        category = UNKNOWN_CATEGORY
        if categories and isinstance(categories[0], list | tuple) and categories[0]:
            category = str(categories[0][-1])
        rows.append((str(value["asin"]), category))
    return pl.DataFrame(rows, schema={"asin": pl.String, "category": pl.String}, orient="row",
                        ).unique("asin", keep="first", maintain_order=True)


def load_amazon(
    reviews_path: str | os.PathLike[str],
    meta_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    history_length: int = 10,
) -> AmazonDataset:
    """Build the DIN samples and QR-IQL trajectories of an Amazon category (see module doc)."""
    return amazon_dataset(read_reviews(reviews_path), read_meta(meta_path), seed=seed,
                          history_length=history_length, source=str(reviews_path))


def amazon_dataset(
    reviews: pl.DataFrame,
    meta: pl.DataFrame,
    *,
    seed: int = 0,
    history_length: int = 10,
    source: str = "reviews",
) -> AmazonDataset:
    """:func:`load_amazon` on frames already read: ``reviews`` as :func:`read_reviews` returns
    them, ``meta`` as :func:`read_meta` does (one row per asin). Other review-like data (e.g.
    :mod:`offline_rl.data.movielens`) use it; ``source`` names the data in errors."""
    if not isinstance(history_length, int) or history_length < 1:
        raise ValueError(f"history_length must be an int >= 1; got {history_length!r}.")
    reviews = reviews.unique(["reviewerID", "asin"], keep="first", maintain_order=True)
    asins = reviews["asin"].unique().sort()
    items = (pl.DataFrame({"asin": asins})
             .with_row_index("item").with_columns(pl.col("item").cast(pl.Int64))
             .join(meta, on="asin", how="left")
             .with_columns(pl.col("category").fill_null(UNKNOWN_CATEGORY))
             .select("item", "asin", "category"))
    category_of = items["category"].to_numpy()
    n_items = items.height
    reviews = (reviews.join(items.select("asin", "item"), on="asin")
               .sort(["reviewerID", "unixReviewTime", "asin"]))
    rng = np.random.default_rng(seed)

    samples: list[tuple] = []
    steps: list[tuple] = []
    for (user,), group in reviews.group_by(["reviewerID"], maintain_order=True):
        sequence = group["item"].to_list()
        times = group["unixReviewTime"].to_list()
        seen = set(sequence)
        if len(sequence) < 2 or len(seen) >= n_items:
            continue
        last = len(sequence) - 1
        for i in range(1, len(sequence)):
            negative = int(rng.integers(0, n_items))
            while negative in seen:
                negative = int(rng.integers(0, n_items))
            history = sequence[max(0, i - history_length):i]
            split = "test" if i == last else "train"
            history_categories = [str(category_of[h]) for h in history]
            for item, label in ((sequence[i], 1), (negative, 0)):
                samples.append((user, i, history, history_categories, item,
                                str(category_of[item]), label, split))
            pair = [(sequence[i], 1), (negative, 0)]
            if rng.random() < 0.5:
                pair.reverse()
            for item, response in pair:
                steps.append((user, times[i], item, response, split))
    if not samples:
        raise SchemaError(
            f"{source}: no user has 2 or more reviews of distinct items; nothing to build"
        )
    sample_frame = pl.DataFrame(
        samples,
        schema={"user_id": pl.String, "position": pl.Int64, "history_items": pl.List(pl.Int64),
                "history_categories": pl.List(pl.String), "item": pl.Int64,
                "category": pl.String, "label": pl.Int64, "split": pl.String},
        orient="row",
    )
    return AmazonDataset(samples=sample_frame,
                         trajectories=_trajectories(steps, history_length), items=items)


def _trajectories(steps: list[tuple], history_length: int) -> pl.DataFrame:
    """``user_trajectories`` columns from (user, time, item, response, split) in user order."""
    columns: dict[str, list] = {k: [] for k in (
        "user_id", "session_id", "step", "event_id", "ts", "item", "feedback", "response",
        "history_items", "history_responses", "next_event_id", "next_item",
        "next_history_items", "next_history_responses", "done", "split")}
    start = 0
    while start < len(steps):
        end = start
        while end < len(steps) and steps[end][0] == steps[start][0]:
            end += 1
        user_steps = steps[start:end]
        items = [s[2] for s in user_steps]
        responses = [s[3] for s in user_steps]
        for t, (user, time, item, response, split) in enumerate(user_steps):
            done = t == len(user_steps) - 1
            columns["user_id"].append(user)
            columns["session_id"].append(0)
            columns["step"].append(t)
            columns["event_id"].append(start + t)
            columns["ts"].append(time * 1_000_000 + t)
            columns["item"].append(item)
            columns["feedback"].append("review" if response else "none")
            columns["response"].append(response)
            columns["history_items"].append(items[max(0, t - history_length):t])
            columns["history_responses"].append(responses[max(0, t - history_length):t])
            columns["next_event_id"].append(None if done else start + t + 1)
            columns["next_item"].append(None if done else items[t + 1])
            columns["next_history_items"].append(items[max(0, t + 1 - history_length):t + 1])
            columns["next_history_responses"].append(
                responses[max(0, t + 1 - history_length):t + 1])
            columns["done"].append(done)
            columns["split"].append(split)
        start = end
    schema = {"user_id": pl.String, "session_id": pl.Int64, "step": pl.Int64,
              "event_id": pl.Int64, "ts": pl.Int64, "item": pl.Int64, "feedback": pl.String,
              "response": pl.Int64, "history_items": pl.List(pl.Int64),
              "history_responses": pl.List(pl.Int64), "next_event_id": pl.Int64,
              "next_item": pl.Int64, "next_history_items": pl.List(pl.Int64),
              "next_history_responses": pl.List(pl.Int64), "done": pl.Boolean,
              "split": pl.String}
    frame = pl.DataFrame(columns, schema=schema)
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))

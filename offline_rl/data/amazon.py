"""Amazon review dumps -> DIN-format CTR samples and QR-IQL trajectories (no torch).

Inputs are the files the user supplies (McAuley et al., 2015), plain or gzip-compressed (told
apart by their first bytes, whatever the name):

* ``reviews_<Category>_5.json``: one JSON object per line with at least ``reviewerID`` (str),
  ``asin`` (str) and ``unixReviewTime`` (int, seconds) (the 5-core subset);
* ``meta_<Category>.json``: one object per line with ``asin`` (str) and optionally
  ``categories`` (a list of category paths, each a list of str). The original dumps write
  Python literals (single quotes), so a line is read as JSON and, failing that, with
  :func:`ast.literal_eval`. Given the reviewed asins, lines of other items are skipped after
  reading only their leading ``asin`` (DIN keeps the reviewed items' metadata only; a full
  Electronics meta file has ~8x more items than its 5-core reviews).

A line that breaks a rule raises one :class:`~offline_rl.errors.SchemaError` naming the file,
the line, the field and the rule.

Following DIN's preprocessing (Zhou et al., 2018, ``1_convert_pd.py`` / ``2_build_dataset.py``,
and MTRec Appendix A.4): each user's reviews are sorted by time (then asin); a user with fewer
than 2 distinct reviewed items is dropped. For every position ``i`` one negative is drawn
uniformly from the catalogue (the reviewed items) among the items the user never reviewed.
For ``i >= 1`` the DIN sample's history is the items reviewed before ``i`` (at most
``history_length``), the positive is the item reviewed at ``i`` (label 1) and the negative of
``i`` is the second row (label 0). A user's last position is the test split. An item's
category is the last entry of its *last* category path (DIN's ``x[-1][-1]``, which gives
Electronics its 801 categories); items without metadata or without a path get ``"unknown"``.

The same interactions as a ``user_trajectories`` table for QR-IQL: per user, one session with
a step for the positive and for the negative of *every* position, the first review included
(it is the first state's candidate and then enters every later history); the two steps of a
position come in a seeded random order so that the step's parity does not give the response
away. Every step carries its ``position`` and a unique ``event_id``, and every DIN sample the
``event_id`` of its step (same user, position and item), so that rewards computed on the
trajectories join the samples by key (:func:`offline_rl.mtrec.classifier.aligned_rewards`).
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from tqdm import tqdm

from offline_rl.errors import SchemaError

REVIEW_FIELDS = ("reviewerID", "asin", "unixReviewTime")
UNKNOWN_CATEGORY = "unknown"
#: The leading asin of a meta line, JSON or Python literal (both dumps write it first).
_LEADING_ASIN = re.compile(r"""^\s*\{\s*(['"])asin\1\s*:\s*(['"])([^'"\\]*)\2""")
#: Progress is updated every this many lines.
_PROGRESS_EVERY = 20000


@dataclass(frozen=True, eq=False)
class AmazonDataset:
    """What :func:`load_amazon` returns.

    Attributes
    ----------
    samples : polars.DataFrame
        DIN-format rows: ``user_id`` (str), ``position``, ``history_items`` list[i64],
        ``history_categories`` list[str], ``item`` i64, ``category`` str, ``label`` i64 (1 = the
        reviewed item, 0 = the sampled negative), ``split`` ('train' / 'test'), ``event_id``
        (the trajectory step of the same user, position and item).
    trajectories : polars.DataFrame
        The ``user_trajectories`` columns (one session per user, every position) plus
        ``position`` and ``split``.
    items : polars.DataFrame
        ``item`` i64, ``asin`` str, ``category`` str: the id map (items numbered by sorted asin).
    steps : polars.DataFrame
        One row per trajectory step in trajectory order: ``user_id``, ``position``,
        ``event_id``, ``item``, ``response``, ``time`` (seconds), ``split``; the input of
        :func:`steps_to_trajectories`.
    history_length : int
        Longest history kept in samples and trajectories.
    """

    samples: pl.DataFrame
    trajectories: pl.DataFrame
    items: pl.DataFrame
    steps: pl.DataFrame
    history_length: int

    def item_categories(self) -> dict[int, str]:
        """Item id -> category, for :meth:`QRIQL.fit` and the CTR backbones."""
        return dict(zip(self.items["item"].to_list(), self.items["category"].to_list(),
                        strict=True))

    def train_trajectories(self, users=None) -> pl.DataFrame:
        """Trajectories of the train positions only (of ``users``, if given).

        Each user's trajectory ends at its last train position (``done`` there), so no state
        or next state shows the test position's items or responses. ``event_id`` is kept: it
        still identifies the same steps as in :attr:`trajectories` and :attr:`samples`.
        """
        steps = self.steps.filter(pl.col("split") == "train")
        if users is not None:
            steps = steps.filter(pl.col("user_id").is_in(list(users)))
        return steps_to_trajectories(steps, self.history_length)


# ---------------------------------------------------------------------------- reading files
def _open_text(path: Path) -> tuple[io.TextIOBase, Any]:
    """A text stream over the (possibly gzip) file and the raw handle whose position we show."""
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8"), raw
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8"), raw


def _lines(path: Path, *, progress: bool, what: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-blank lines; a tqdm bar of bytes read when ``progress``."""
    if not path.is_file():
        raise FileNotFoundError(f"No such file: '{path}'.")
    text, raw = _open_text(path)
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=what,
               disable=not progress, file=sys.stderr, leave=False)
    try:
        with text:
            number = 0
            try:
                for number, line in enumerate(text, start=1):
                    if number % _PROGRESS_EVERY == 0:
                        bar.update(raw.tell() - bar.n)
                    if line.strip():
                        yield number, line
            except (UnicodeDecodeError, OSError, EOFError) as error:
                raise SchemaError(f"{path}: line {number + 1} is unreadable ({error}); expected "
                                  "UTF-8 text, one object per line (plain or gzip)") from None
    finally:
        bar.close()


def _parse_line(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
            raise SchemaError(
                f"{path}: line {number} is neither JSON nor a Python literal ({error}); "
                "expected one object per line"
            ) from None
    if not isinstance(value, dict):
        raise SchemaError(f"{path}: line {number} holds a {type(value).__name__}; expected an "
                          "object ({...}) per line")
    return value


def _field(value: dict[str, Any], name: str, path: Path, number: int) -> Any:
    if name not in value:
        raise SchemaError(f"{path}: line {number} lacks field '{name}'; found fields "
                          f"{sorted(value)}")
    return value[name]


def _identifier(value: dict[str, Any], name: str, path: Path, number: int) -> str:
    given = _field(value, name, path, number)
    if not isinstance(given, str) or not given:
        raise SchemaError(f"{path}: line {number}, field '{name}' is {given!r}; expected a "
                          "non-empty string")
    return given


def read_reviews(path: str | os.PathLike[str], *, progress: bool = False) -> pl.DataFrame:
    """``reviewerID`` (str), ``asin`` (str), ``unixReviewTime`` (i64) of every review line."""
    path = Path(path)
    users, asins, times = [], [], []
    for number, line in _lines(path, progress=progress, what=path.name):
        value = _parse_line(line, path, number)
        users.append(_identifier(value, "reviewerID", path, number))
        asins.append(_identifier(value, "asin", path, number))
        time = _field(value, "unixReviewTime", path, number)
        if not isinstance(time, int) or isinstance(time, bool):
            raise SchemaError(f"{path}: line {number}, field 'unixReviewTime' is {time!r}; "
                              "expected an integer (seconds since 1970)")
        times.append(time)
    if not users:
        raise SchemaError(f"{path}: no reviews found; expected one review object per line")
    return pl.DataFrame({"reviewerID": users, "asin": asins, "unixReviewTime": times},
                        schema={"reviewerID": pl.String, "asin": pl.String,
                                "unixReviewTime": pl.Int64})


def din_category(categories: Any, path: Path, number: int) -> str:
    """DIN's category of an item: the last entry of its last category path (``x[-1][-1]``).

    ``categories`` absent, empty, or with an empty last path gives :data:`UNKNOWN_CATEGORY`.
    """
    if categories is None:
        return UNKNOWN_CATEGORY
    rule = "expected a list of category paths, each a list of strings"
    if not isinstance(categories, list | tuple):
        raise SchemaError(f"{path}: line {number}, field 'categories' is {categories!r}; {rule}")
    for entry in categories:
        if not isinstance(entry, list | tuple) or not all(isinstance(c, str) for c in entry):
            raise SchemaError(f"{path}: line {number}, field 'categories' holds {entry!r}; {rule}")
    if not categories or not categories[-1]:
        return UNKNOWN_CATEGORY
    return categories[-1][-1]


def read_meta(path: str | os.PathLike[str], *, asins=None, progress: bool = False) -> pl.DataFrame:
    """``asin`` and ``category`` (:func:`din_category`) of every item (of ``asins``, if given).

    With ``asins``, a line whose leading ``asin`` is not among them is skipped unparsed. An asin
    listed twice keeps its first line.
    """
    path = Path(path)
    wanted = None if asins is None else set(asins)
    rows: dict[str, str] = {}
    for number, line in _lines(path, progress=progress, what=path.name):
        if wanted is not None:
            leading = _LEADING_ASIN.match(line)
            if leading is not None and leading.group(3) not in wanted:
                continue
        value = _parse_line(line, path, number)
        asin = _identifier(value, "asin", path, number)
        if (wanted is not None and asin not in wanted) or asin in rows:
            continue
        rows[asin] = din_category(value.get("categories"), path, number)
    return pl.DataFrame({"asin": list(rows), "category": list(rows.values())},
                        schema={"asin": pl.String, "category": pl.String})


def category_files(directory: str | os.PathLike[str], category: str) -> tuple[Path, Path]:
    """``reviews_<category>_5.json`` and ``meta_<category>.json`` in ``directory``.

    Each may also be named with a ``.gz`` suffix (the downloads' names). FileNotFoundError
    names what was looked for.
    """
    folder = Path(directory)
    found = []
    for stem in (f"reviews_{category}_5.json", f"meta_{category}.json"):
        candidates = [folder / stem, folder / f"{stem}.gz"]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            raise FileNotFoundError(
                f"No Amazon {category!r} file in '{folder}': expected {stem} or {stem}.gz "
                "(McAuley et al.'s 2014 dumps; nothing is downloaded)")
        found.append(existing[0])
    return found[0], found[1]


def load_amazon(
    reviews_path: str | os.PathLike[str],
    meta_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    history_length: int = 10,
    progress: bool = False,
) -> AmazonDataset:
    """Build the DIN samples and QR-IQL trajectories of an Amazon category (see module doc).

    ``progress`` shows tqdm bars on stderr while the files are read.
    """
    reviews = read_reviews(reviews_path, progress=progress)
    meta = read_meta(meta_path, asins=reviews["asin"].unique().to_list(), progress=progress)
    return amazon_dataset(reviews, meta, seed=seed, history_length=history_length,
                          source=str(reviews_path))


# ------------------------------------------------------------------------- building the data
def _windows(values: pa.Array, group_start: np.ndarray, end: np.ndarray, width: int) -> pl.Series:
    """A list column whose row ``r`` is ``values[max(group_start[r], end[r] - width):end[r]]``."""
    start = np.maximum(group_start, end - width)
    lengths = end - start
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    take = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    array = pa.LargeListArray.from_arrays(pa.array(offsets), values.take(pa.array(take)))
    return pl.Series(array)


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """Index of the first row of each row's run of equal ``keys`` (keys sorted)."""
    new = np.ones(keys.size, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(keys.size), 0))


def steps_to_trajectories(steps: pl.DataFrame, history_length: int) -> pl.DataFrame:
    """``user_trajectories`` columns (+ ``position``, ``split``) from steps in trajectory order.

    ``steps`` as :attr:`AmazonDataset.steps`: rows of one user contiguous, in step order. The
    history of step ``t`` is the user's steps before it (at most ``history_length``), ``s'``
    the state after it; one session per user, ``done`` at its last step.
    """
    n = steps.height
    users = steps["user_id"].to_numpy()
    start = _group_starts(users) if n else np.zeros(0, dtype=np.int64)
    row = np.arange(n, dtype=np.int64)
    last = np.ones(n, dtype=bool)
    if n:
        last[:-1] = users[1:] != users[:-1]
    items = pa.array(steps["item"].to_numpy())
    responses = pa.array(steps["response"].to_numpy())
    step = row - start
    event = steps["event_id"]
    next_event = event.shift(-1)
    next_item = steps["item"].shift(-1)
    frame = pl.DataFrame({
        "user_id": steps["user_id"],
        "session_id": pl.Series(np.zeros(n, dtype=np.int64)),
        "step": pl.Series(step),
        "event_id": event,
        "ts": pl.Series(steps["time"].to_numpy() * 1_000_000 + step),
        "item": steps["item"],
        "feedback": pl.Series(np.where(steps["response"].to_numpy() == 1, "review", "none")),
        "response": steps["response"],
        "history_items": _windows(items, start, row, history_length),
        "history_responses": _windows(responses, start, row, history_length),
        "next_event_id": next_event,
        "next_item": next_item,
        "next_history_items": _windows(items, start, row + 1, history_length),
        "next_history_responses": _windows(responses, start, row + 1, history_length),
        "done": pl.Series(last),
        "position": steps["position"],
        "split": steps["split"],
    })
    done = pl.col("done")
    return frame.with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.when(done).then(None).otherwise(pl.col("next_event_id")).alias("next_event_id"),
        pl.when(done).then(None).otherwise(pl.col("next_item")).alias("next_item"),
        *(pl.col(c).cast(pl.List(pl.Int64)) for c in (
            "history_items", "history_responses", "next_history_items",
            "next_history_responses")),
    )


def _negatives(user: np.ndarray, item: np.ndarray, n_items: int,
               rng: np.random.Generator) -> np.ndarray:
    """One item per row drawn uniformly from ``[0, n_items)`` minus the row user's items.

    All rows draw once in row order; rows that hit a reviewed item draw again, in row order,
    until none does (the users kept have an unreviewed item, so this ends).
    """
    reviewed = np.unique(user.astype(np.int64) * n_items + item)
    draw = rng.integers(0, n_items, size=user.size)
    while True:
        keys = user.astype(np.int64) * n_items + draw
        position = np.minimum(np.searchsorted(reviewed, keys), reviewed.size - 1)
        hit = np.flatnonzero(reviewed[position] == keys)
        if hit.size == 0:
            return draw
        draw[hit] = rng.integers(0, n_items, size=hit.size)


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
    :mod:`offline_rl.data.movielens`) use it; ``source`` names the data in errors.

    The draws of ``seed``: first the negatives of all positions (users in sorted order,
    positions in time order), then one coin per position for the order of its two steps.
    """
    if not isinstance(history_length, int) or history_length < 1:
        raise ValueError(f"history_length must be an int >= 1; got {history_length!r}.")
    reviews = reviews.unique(["reviewerID", "asin"], keep="first", maintain_order=True)
    asins = reviews["asin"].unique().sort()
    items = (pl.DataFrame({"asin": asins})
             .with_row_index("item").with_columns(pl.col("item").cast(pl.Int64))
             .join(meta.unique("asin", keep="first", maintain_order=True), on="asin",
                   how="left")
             .with_columns(pl.col("category").fill_null(UNKNOWN_CATEGORY))
             .select("item", "asin", "category"))
    n_items = items.height
    reviews = (reviews.join(items.select("asin", "item"), on="asin")
               .with_columns(pl.len().over("reviewerID").alias("count"))
               .filter((pl.col("count") >= 2) & (pl.col("count") < n_items))
               .sort(["reviewerID", "unixReviewTime", "asin"]))
    if reviews.is_empty():
        raise SchemaError(
            f"{source}: no user has 2 or more reviews of distinct items (and an item left "
            "unreviewed); nothing to build"
        )
    rng = np.random.default_rng(seed)
    user_codes = reviews["reviewerID"].rank("dense").cast(pl.Int64).to_numpy() - 1
    positive = reviews["item"].to_numpy()
    negative = _negatives(user_codes, positive, n_items, rng)
    n = reviews.height
    start = _group_starts(user_codes)
    position = np.arange(n, dtype=np.int64) - start
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = user_codes[1:] != user_codes[:-1]
    split = np.where(is_last, "test", "train")
    negative_first = rng.random(n) < 0.5

    # Steps: the two of review row r are rows 2r and 2r + 1, in the drawn order.
    first = np.where(negative_first, negative, positive)
    second = np.where(negative_first, positive, negative)
    step_item = np.stack([first, second], axis=1).ravel()
    step_response = np.stack([~negative_first, negative_first], axis=1).ravel().astype(np.int64)
    event_id = np.arange(2 * n, dtype=np.int64)
    steps = pl.DataFrame({
        "user_id": reviews["reviewerID"].gather(np.repeat(np.arange(n), 2)),
        "position": np.repeat(position, 2),
        "event_id": event_id,
        "item": step_item,
        "response": step_response,
        "time": np.repeat(reviews["unixReviewTime"].to_numpy(), 2),
        "split": np.repeat(split, 2),
    })
    trajectories = steps_to_trajectories(steps, history_length)

    # DIN samples of positions >= 1: the positive row then the negative row.
    rows = np.flatnonzero(position >= 1)
    sample_rows = np.repeat(rows, 2)
    sample_item = np.stack([positive[rows], negative[rows]], axis=1).ravel()
    sample_label = np.tile(np.array([1, 0], dtype=np.int64), rows.size)
    positive_event = 2 * rows + negative_first[rows].astype(np.int64)
    sample_event = np.stack([positive_event, 2 * rows + (~negative_first[rows]).astype(np.int64)],
                            axis=1).ravel()
    category = pa.array(items["category"].to_numpy().astype(object), type=pa.string())
    history = _windows(pa.array(positive), start[sample_rows], sample_rows, history_length)
    history_category = _windows(category.take(pa.array(positive)), start[sample_rows],
                                sample_rows, history_length)
    samples = pl.DataFrame({
        "user_id": reviews["reviewerID"].gather(sample_rows),
        "position": position[sample_rows],
        "history_items": history.cast(pl.List(pl.Int64)),
        "history_categories": history_category.cast(pl.List(pl.String)),
        "item": sample_item,
        "category": pl.Series(category.take(pa.array(sample_item))).cast(pl.String),
        "label": sample_label,
        "split": split[sample_rows],
        "event_id": sample_event,
    })
    return AmazonDataset(samples=samples, trajectories=trajectories, items=items, steps=steps,
                         history_length=history_length)

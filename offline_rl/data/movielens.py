"""MovieLens-100K ratings as rated / not-rated trajectories (no torch, no network).

GroupLens' licence does not allow redistributing MovieLens, so it is not shipped in
``datasets/``, and nothing here downloads it: the caller points at data they already have.
Read are RecBole's "atomic files" of ML-100K (Zhao et al., 2021), which the ``recbole`` 1.2.1
wheel bundles as its example data:

* ``ml-100k.inter`` (UTF-8): tab-separated ``user_id:token``, ``item_id:token``,
  ``rating:float``, ``timestamp:float``, one header line, one rating per line;
* ``ml-100k.item`` (Latin-1): tab-separated ``item_id:token``, ``movie_title:token_seq``,
  ``release_year:token``, ``class:token_seq`` (the genres, space-separated).

``path`` may be a folder holding both files, the wheel itself, or a folder holding the wheel
(``recbole-1.2.1-py3-none-any.whl``). A developer who wants the wheel fetches it once, by hand:
``pip download recbole==1.2.1 --no-deps -d .bench/recbole`` (docs/qriql.md).

:func:`load_movielens_100k` treats each rating like an Amazon review
(:func:`offline_rl.data.amazon.amazon_dataset`): the rated movie is a positive step, one movie
the user never rated is a sampled negative, a movie's category is its first listed genre
("unknown" when it has none). The rating value is kept apart, in ``rated_steps``: the held-out
truth that a reward model trained on rated / not rated never sees.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from offline_rl.data.amazon import UNKNOWN_CATEGORY, AmazonDataset, amazon_dataset
from offline_rl.errors import SchemaError

#: The wheel that bundles ML-100K, and where inside it the two atomic files lie.
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"
RATINGS_FILE = "ml-100k.inter"
MOVIES_FILE = "ml-100k.item"
#: Header field names (before the ':type' suffix) each file must start with.
RATINGS_HEADER = ("user_id", "item_id", "rating", "timestamp")
MOVIES_HEADER = ("item_id", "movie_title", "release_year", "class")


@dataclass(frozen=True, eq=False)
class MovieLensDataset:
    """What :func:`load_movielens_100k` returns.

    Attributes
    ----------
    ratings : polars.DataFrame
        One row per rating line: ``user_id`` str, ``movie`` str (ML-100K's item id),
        ``rating`` f64, ``timestamp`` i64 (seconds since 1970).
    implicit : AmazonDataset
        The ratings as rated (response 1) / sampled not-rated (response 0) steps:
        ``implicit.trajectories`` for QR-IQL, ``implicit.samples`` for the CTR backbones,
        ``implicit.items`` maps ``item`` to ``asin`` (= ``movie``) and ``category`` (genre).
    rated_steps : polars.DataFrame
        The rated steps of ``implicit.trajectories`` with their held-out rating:
        ``event_id``, ``user_id``, ``item``, ``movie``, ``rating``.
    """

    ratings: pl.DataFrame
    implicit: AmazonDataset
    rated_steps: pl.DataFrame


def _file_texts(path: Path) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """``((source, bytes), (source, bytes))`` of the ratings and movies files under ``path``."""
    given = path
    if path.is_dir():
        ratings, movies = path / RATINGS_FILE, path / MOVIES_FILE
        if ratings.is_file() and movies.is_file():
            return (str(ratings), ratings.read_bytes()), (str(movies), movies.read_bytes())
        path = path / RECBOLE_WHEEL
    if not path.is_file():
        raise FileNotFoundError(
            f"No MovieLens-100K at '{given}': expected a folder with {RATINGS_FILE} and "
            f"{MOVIES_FILE} (RecBole atomic files), or the wheel {RECBOLE_WHEEL} (as the path "
            "or inside the folder). MovieLens is not shipped and never downloaded at run time; "
            "docs/qriql.md says how to get it."
        )
    if not zipfile.is_zipfile(path):
        raise SchemaError(f"{path}: not a zip archive; expected the wheel {RECBOLE_WHEEL}")
    with zipfile.ZipFile(path) as archive:
        texts = []
        for name in (RATINGS_FILE, MOVIES_FILE):
            member = WHEEL_FOLDER + name
            try:
                texts.append((f"{path}!{member}", archive.read(member)))
            except KeyError:
                raise SchemaError(
                    f"{path}: no member '{member}'; expected the wheel {RECBOLE_WHEEL}"
                ) from None
    return texts[0], texts[1]


def _check_header(source: str, text: str, expected: tuple[str, ...]) -> None:
    fields = text.split("\n", 1)[0].rstrip("\r").split("\t")
    names = tuple(field.split(":", 1)[0] for field in fields)
    if names != expected:
        raise SchemaError(
            f"{source}: line 1, the header names columns {list(names)}; expected "
            f"{list(expected)} (each as 'name:type', tab-separated)"
        )


def _read_table(source: str, text: str, columns: list[str], **options) -> pl.DataFrame:
    try:
        return pl.read_csv(text.encode(), separator="\t", infer_schema=False,
                           new_columns=columns, **options)
    except pl.exceptions.PolarsError as error:
        raise SchemaError(f"{source}: unreadable as tab-separated columns {columns} ({error})") \
            from None


def _first_bad(source: str, frame: pl.DataFrame, column: str, parsed: pl.Series,
               rule: str) -> None:
    """One error naming the first row (file line) whose ``column`` did not parse."""
    bad = parsed.is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise SchemaError(
            f"{source}: line {row + 2}, column '{column}' is {frame[column][row]!r}; "
            f"expected {rule}"
        )


def read_movielens_100k(path: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(ratings, genres)``: ratings as in :class:`MovieLensDataset`; ``genres`` one row per
    movie line, ``movie`` str and ``genre`` str (first listed genre, "unknown" if none)."""
    (ratings_source, ratings_bytes), (movies_source, movies_bytes) = _file_texts(Path(path))
    try:
        ratings_text = ratings_bytes.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SchemaError(f"{ratings_source}: not UTF-8 text ({error})") from None
    movies_text = movies_bytes.decode("latin-1")
    _check_header(ratings_source, ratings_text, RATINGS_HEADER)
    _check_header(movies_source, movies_text, MOVIES_HEADER)

    raw = _read_table(ratings_source, ratings_text, ["user_id", "movie", "rating", "timestamp"])
    for column in ("user_id", "movie"):
        _first_bad(ratings_source, raw, column, raw[column], "a non-empty id")
    rating = raw["rating"].cast(pl.Float64, strict=False)
    _first_bad(ratings_source, raw, "rating", rating, "a number")
    timestamp = raw["timestamp"].cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    _first_bad(ratings_source, raw, "timestamp", timestamp, "seconds since 1970 (a number)")
    ratings = raw.with_columns(rating=rating, timestamp=timestamp)

    # quote_char=None: titles hold bare double quotes.
    movies = _read_table(movies_source, movies_text, ["movie", "title", "year", "genres"],
                         quote_char=None)
    _first_bad(movies_source, movies, "movie", movies["movie"], "a non-empty id")
    genres = movies.select("movie", pl.col("genres").fill_null(UNKNOWN_CATEGORY)
                           .str.split(" ").list.first().alias("genre"))
    return ratings, genres


def load_movielens_100k(
    path: str | os.PathLike[str], *, seed: int = 0, history_length: int = 10,
) -> MovieLensDataset:
    """Read ML-100K under ``path`` and build its rated / not-rated steps (see module doc).

    ``seed`` draws the sampled negatives and the order of each position's two steps, as in
    :func:`offline_rl.data.amazon.load_amazon`. A movie listed twice keeps its first line.
    """
    ratings, genres = read_movielens_100k(path)
    reviews = ratings.select(pl.col("user_id").alias("reviewerID"), pl.col("movie").alias("asin"),
                             pl.col("timestamp").alias("unixReviewTime"))
    meta = (genres.select(pl.col("movie").alias("asin"), pl.col("genre").alias("category"))
            .unique("asin", keep="first", maintain_order=True))
    implicit = amazon_dataset(reviews, meta, seed=seed, history_length=history_length,
                              source=str(path))
    movie_of_item = implicit.items.select("item", pl.col("asin").alias("movie"))
    rated_steps = (implicit.trajectories.filter(pl.col("response") == 1)
                   .select("event_id", "user_id", "item")
                   .join(movie_of_item, on="item")
                   .join(ratings.select("user_id", "movie", "rating"), on=["user_id", "movie"]))
    return MovieLensDataset(ratings=ratings, implicit=implicit, rated_steps=rated_steps)


__all__ = [
    "RECBOLE_WHEEL",
    "MovieLensDataset",
    "load_movielens_100k",
    "read_movielens_100k",
]

"""The MovieLens-100K loader on small hand-written RecBole atomic files (no real data needed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.data.movielens import (
    RECBOLE_WHEEL,
    load_movielens_100k,
    read_movielens_100k,
)
from offline_rl.errors import SchemaError

RATINGS_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
MOVIES_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"
# user -> [(movie, rating, timestamp)]; user 3 rated one movie only, so it yields no step
RATINGS = {
    "1": [("10", 5, 100), ("20", 2, 50), ("30", 4, 300)],
    "2": [("20", 1, 10), ("40", 3, 20)],
    "3": [("10", 4, 5)],
}
MOVIES = [("10", 'A "quoted" title', "1995", "Comedy Drama"), ("20", "Caf\xe9", "1996", ""),
          ("30", "C", "1997", "Horror"), ("40", "D", "1998", "Action Comedy"),
          ("50", "E", "1999", "Drama"), ("60", "F", "1999", "Drama")]


def _texts(ratings=None, movies_header=MOVIES_HEADER) -> tuple[str, bytes]:
    lines = [RATINGS_HEADER] + [f"{user}\t{movie}\t{rating}\t{time}"
                                for user, rows in RATINGS.items() for movie, rating, time in rows]
    movies = [movies_header] + ["\t".join(row) for row in MOVIES]
    return (ratings if ratings is not None else "\n".join(lines) + "\n",
            ("\n".join(movies) + "\n").encode("latin-1"))


def _write_folder(folder, **kwargs):
    ratings, movies = _texts(**kwargs)
    folder.mkdir(exist_ok=True)
    (folder / "ml-100k.inter").write_text(ratings, encoding="utf-8")
    (folder / "ml-100k.item").write_bytes(movies)
    return folder


def _write_wheel(folder):
    ratings, movies = _texts()
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(folder / RECBOLE_WHEEL, "w") as archive:
        archive.writestr("recbole/dataset_example/ml-100k/ml-100k.inter", ratings)
        archive.writestr("recbole/dataset_example/ml-100k/ml-100k.item", movies)
    return folder / RECBOLE_WHEEL


def test_ratings_and_genres(tmp_path):
    ratings, genres = read_movielens_100k(_write_folder(tmp_path / "ml"))
    assert ratings.schema == {"user_id": pl.String, "movie": pl.String, "rating": pl.Float64,
                              "timestamp": pl.Int64}
    assert ratings.height == 6 and ratings["rating"].to_list()[:3] == [5.0, 2.0, 4.0]
    assert dict(genres.iter_rows()) == {"10": "Comedy", "20": "unknown", "30": "Horror",
                                        "40": "Action", "50": "Drama", "60": "Drama"}


def test_rated_steps_carry_the_held_out_rating(tmp_path):
    data = load_movielens_100k(_write_folder(tmp_path / "ml"), seed=3)
    steps = data.implicit.trajectories
    assert "rating" not in steps.columns and "reward" not in steps.columns
    assert set(steps["user_id"]) == {"1", "2"}  # a user needs 2 ratings
    # users 1 and 2 rated 3 and 2 movies: 3 + 2 positions (the first rating included, issue
    # #14), each a rated and a not-rated step
    assert steps.height == 10 and steps["response"].sum() == 5
    rated = data.rated_steps
    assert rated.height == 5
    given = {(user, movie): float(rating) for user, rows in RATINGS.items()
             for movie, rating, _ in rows}
    for user, movie, rating in rated.select("user_id", "movie", "rating").iter_rows():
        assert given[(user, movie)] == rating
    # the first rating in time of each user is a step too (it enters a QR-IQL state)
    assert ("1", "20") in set(rated.select("user_id", "movie").iter_rows())
    movie_of = dict(data.implicit.items.select("item", "asin").iter_rows())
    for user, item in steps.filter(pl.col("response") == 0).select("user_id", "item").iter_rows():
        assert (user, movie_of[item]) not in given  # negatives are movies the user never rated
    assert data.implicit.item_categories()[rated["item"][0]] in {"Comedy", "Horror", "Action",
                                                                "Drama", "unknown"}


def test_the_wheel_and_the_folder_give_the_same_data(tmp_path):
    from_folder = load_movielens_100k(_write_folder(tmp_path / "ml"), seed=1)
    wheel = _write_wheel(tmp_path / "cache")
    for path in (wheel, wheel.parent):
        from_wheel = load_movielens_100k(path, seed=1)
        assert_frame_equal(from_wheel.implicit.trajectories, from_folder.implicit.trajectories)
        assert_frame_equal(from_wheel.rated_steps, from_folder.rated_steps)


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No MovieLens-100K at '.*empty'.*never downloaded"):
        load_movielens_100k(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No MovieLens-100K at '.*empty'"):
        load_movielens_100k(tmp_path / "empty")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ratings": RATINGS_HEADER + "\n1\t10\tfive\t100\n"},
         r"ml-100k.inter: line 2, column 'rating' is 'five'; expected a number"),
        ({"ratings": RATINGS_HEADER + "\n1\t10\t5\t100\n1\t20\t4\tsoon\n"},
         r"ml-100k.inter: line 3, column 'timestamp' is 'soon'"),
        ({"ratings": RATINGS_HEADER + "\n\t10\t5\t100\n"},
         r"line 2, column 'user_id' is None; expected a non-empty id"),
        ({"ratings": "user_id:token\titem_id:token\ttimestamp:float\trating:float\n1\t10\t5\t100\n"},
         r"ml-100k.inter: line 1, the header names columns \['user_id', 'item_id', 'timestamp', 'rating'\]"),
        ({"movies_header": "item_id:token\ttitle\tyear\tclass:token_seq"},
         r"ml-100k.item: line 1, the header names columns"),
    ],
)
def test_bad_files_name_file_line_and_column(tmp_path, change, match):
    with pytest.raises(SchemaError, match=match):
        load_movielens_100k(_write_folder(tmp_path / "ml", **change))


def test_a_wrong_archive_is_refused(tmp_path):
    (tmp_path / RECBOLE_WHEEL).write_text("not a zip")
    with pytest.raises(SchemaError, match="not a zip archive"):
        load_movielens_100k(tmp_path)
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as archive:
        archive.writestr("other/file.txt", "x")
    with pytest.raises(SchemaError, match=r"no member 'recbole/dataset_example/ml-100k/ml-100k.inter'"):
        load_movielens_100k(tmp_path / "other.whl")


def test_the_loader_does_not_import_torch():
    code = "import sys, offline_rl.data.movielens; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""The Amazon review loader on small fixtures in the original 2014 dump format."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offline_rl.data.amazon import (
    category_files,
    load_amazon,
    read_meta,
    read_reviews,
)
from offline_rl.errors import SchemaError

REVIEWS = [
    # user A: 4 reviews, out of time order in the file
    {"reviewerID": "A", "asin": "b2", "unixReviewTime": 300, "overall": 5.0, "reviewText": "x"},
    {"reviewerID": "A", "asin": "b1", "unixReviewTime": 100, "overall": 4.0},
    {"reviewerID": "A", "asin": "e1", "unixReviewTime": 400, "overall": 3.0},
    {"reviewerID": "A", "asin": "b3", "unixReviewTime": 200, "overall": 2.0},
    # user B: 2 reviews
    {"reviewerID": "B", "asin": "e2", "unixReviewTime": 50, "overall": 5.0},
    {"reviewerID": "B", "asin": "b1", "unixReviewTime": 60, "overall": 1.0},
    # user C: one review only -> dropped (a DIN sample needs a history)
    {"reviewerID": "C", "asin": "e3", "unixReviewTime": 10, "overall": 5.0},
]
# The original meta dumps are Python literals (single quotes), one per line. DIN's category is
# the last entry of the LAST path: b2 is 'Gifts' (its first path ends in 'Poetry').
META = [
    "{'asin': 'b1', 'categories': [['Books', 'Fiction']], 'title': 'One'}",
    "{'asin': 'b2', 'categories': [['Books', 'Poetry'], ['Gifts']]}",
    "{'asin': 'b3', 'categories': [['Books', 'Fiction'], ['Books', 'Crime', 'Noir']]}",
    '{"asin": "e1", "categories": [["Electronics", "Audio"]]}',
    "{'asin': 'e2', 'related': {'also_bought': ['e1']}, 'categories': [['Electronics', 'Audio']]}",
    "{'asin': 'e3', 'categories': [['Electronics', 'Cameras']]}",
    "{'asin': 'x9', 'categories': []}",
]


def _write(path, lines, compress=False):
    text = "\n".join(lines) + "\n"
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def dump(tmp_path):
    reviews = _write(tmp_path / "reviews_Toy_5.json", [json.dumps(r) for r in REVIEWS])
    meta = _write(tmp_path / "meta_Toy.json", META)
    return reviews, meta


def _random_dump(folder, *, users=40, items=30, seed=0, compress=False):
    """A larger dump: each user reviews 2-9 distinct items at random times."""
    rng = np.random.default_rng(seed)
    reviews = []
    for user in range(users):
        for item in rng.choice(items, size=int(rng.integers(2, 10)), replace=False):
            reviews.append(json.dumps({"reviewerID": f"U{user}", "asin": f"I{item:03d}",
                                       "unixReviewTime": int(rng.integers(0, 1000))}))
    meta = [repr({"asin": f"I{item:03d}", "categories": [["Top", f"C{item % 4}"]]})
            for item in range(items)]
    suffix = ".gz" if compress else ""
    return (_write(folder / f"reviews_Rand_5.json{suffix}", reviews, compress),
            _write(folder / f"meta_Rand.json{suffix}", meta, compress))


def test_readers_and_din_categories(dump):
    reviews, meta = dump
    assert read_reviews(reviews).height == 7
    categories = dict(read_meta(meta).iter_rows())
    assert categories == {"b1": "Fiction", "b2": "Gifts", "b3": "Noir", "e1": "Audio",
                          "e2": "Audio", "e3": "Cameras", "x9": "unknown"}
    # only the reviewed items' lines are kept when the asins are given
    assert read_meta(meta, asins=["b2", "e3"])["asin"].to_list() == ["b2", "e3"]


def test_gzip_files_read_like_plain_ones(dump, tmp_path):
    plain = load_amazon(*dump, seed=2)
    folder = tmp_path / "gz"
    folder.mkdir()
    reviews = _write(folder / "reviews_Toy_5.json.gz", [json.dumps(r) for r in REVIEWS], True)
    meta = _write(folder / "meta_Toy.json.gz", META, True)
    assert category_files(folder, "Toy") == (reviews, meta)
    packed = load_amazon(reviews, meta, seed=2)
    assert_frame_equal(packed.samples, plain.samples)
    assert_frame_equal(packed.trajectories, plain.trajectories)


def test_category_files_name_what_is_missing(dump, tmp_path):
    assert category_files(dump[0].parent, "Toy") == dump
    with pytest.raises(FileNotFoundError, match=r"expected reviews_Books_5.json or "
                                                r"reviews_Books_5.json.gz"):
        category_files(tmp_path, "Books")


def test_din_samples(dump):
    data = load_amazon(*dump, seed=0)
    items = dict(zip(data.items["asin"], data.items["item"], strict=True))
    samples = data.samples
    # A: positions 1..3 (3 positives + 3 negatives); B: position 1; C dropped
    assert samples.group_by("user_id").len().sort("user_id").rows() == [("A", 6), ("B", 2)]
    a = samples.filter((pl.col("user_id") == "A") & (pl.col("label") == 1)).sort("position")
    assert a["item"].to_list() == [items["b3"], items["b2"], items["e1"]]  # time order
    assert a["history_items"].to_list() == [
        [items["b1"]], [items["b1"], items["b3"]], [items["b1"], items["b3"], items["b2"]]]
    assert a["history_categories"][2].to_list() == ["Fiction", "Noir", "Gifts"]
    assert a["category"].to_list() == ["Noir", "Gifts", "Audio"]
    assert a["split"].to_list() == ["train", "train", "test"]
    # one negative per positive, same history, never an item the user reviewed
    negatives = samples.filter(pl.col("label") == 0)
    assert negatives.height == samples.filter(pl.col("label") == 1).height
    reviewed = {"A": {items[x] for x in ("b1", "b2", "b3", "e1")}, "B": {items["e2"], items["b1"]}}
    for row in negatives.iter_rows(named=True):
        assert row["item"] not in reviewed[row["user_id"]]
    pairs = samples.group_by("user_id", "position").agg(pl.col("history_items").n_unique())
    assert (pairs["history_items"] == 1).all()


def test_history_length_keeps_the_most_recent_items(tmp_path):
    data = load_amazon(*_random_dump(tmp_path), seed=0, history_length=3)
    lengths = data.samples.select(
        pl.col("history_items").list.len().alias("n"), "position")
    assert (lengths["n"] == lengths["position"].clip(upper_bound=3)).all()
    assert data.trajectories["history_items"].list.len().max() == 3


def test_every_sample_joins_its_own_step_by_key(tmp_path):
    """The sample's event_id is the step with the same user, position and item (issue #14:
    rewards matched by row position put the other item's reward on 43% of the rows)."""
    data = load_amazon(*_random_dump(tmp_path), seed=4)
    joined = data.samples.join(
        data.trajectories.select("event_id", pl.col("user_id").alias("step_user"),
                                 pl.col("position").alias("step_position"),
                                 pl.col("item").alias("step_item"), "response"),
        on="event_id", how="left")
    assert joined["response"].null_count() == 0
    assert (joined["step_user"] == joined["user_id"]).all()
    assert (joined["step_position"] == joined["position"]).all()
    assert (joined["step_item"] == joined["item"]).all()
    assert (joined["response"] == joined["label"]).all()
    assert data.samples["event_id"].n_unique() == data.samples.height


def test_trajectories_follow_the_contract_and_start_at_the_first_review(dump):
    data = load_amazon(*dump, seed=1)
    items = dict(zip(data.items["asin"], data.items["item"], strict=True))
    t = data.trajectories
    a = t.filter(pl.col("user_id") == "A")
    # 4 positions, each a positive and a negative step; the first review (b1) is one of them
    assert a.height == 8 and a["step"].to_list() == list(range(8))
    assert a["position"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3]
    first = a.filter((pl.col("position") == 0) & (pl.col("response") == 1))
    assert first["item"].to_list() == [items["b1"]]
    assert all(items["b1"] in h for h in a["history_items"].to_list()[2:])
    assert a["done"].to_list() == [False] * 7 + [True]
    assert sorted(a["response"].to_list()) == [0] * 4 + [1] * 4
    assert a["split"].to_list() == ["train"] * 6 + ["test"] * 2
    for row in a.iter_rows(named=True):
        assert row["next_history_items"][-1] == row["item"]
        assert row["next_history_responses"][-1] == row["response"]
        assert row["history_items"] == a["item"].to_list()[:row["step"]][-10:]
    assert a["next_item"].to_list()[:-1] == a["item"].to_list()[1:]
    assert a["next_event_id"].to_list()[:-1] == a["event_id"].to_list()[1:]
    assert a["next_item"][-1] is None and a["next_event_id"][-1] is None
    assert t["event_id"].n_unique() == t.height


def test_step_parity_does_not_give_the_response_away(tmp_path):
    data = load_amazon(*_random_dump(tmp_path, users=300, items=60), seed=0)
    t = data.trajectories
    first_of_pair = t.filter(pl.col("step") % 2 == 0)["response"].to_numpy()
    # each pair's order is a fair coin: the share of positives first is 1/2 +- 3 SE
    se = 0.5 / np.sqrt(first_of_pair.size)
    assert abs(first_of_pair.mean() - 0.5) < 3 * se


def test_train_trajectories_never_show_the_test_position(dump):
    data = load_amazon(*dump, seed=1)
    train = data.train_trajectories()
    assert set(train["split"]) == {"train"}
    test_events = set(data.trajectories.filter(pl.col("split") == "test")["event_id"])
    assert not test_events & set(train["next_event_id"].drop_nulls())
    a = train.filter(pl.col("user_id") == "A")
    assert a.height == 6 and a["done"].to_list() == [False] * 5 + [True]
    assert a["next_item"][-1] is None
    # event ids identify the same steps (item, response, position) as in the full trajectories
    keys = ["event_id", "item", "response", "position"]
    assert_frame_equal(train.select(keys),
                       data.trajectories.filter(pl.col("split") == "train").select(keys))
    only_b = data.train_trajectories(users=["B"])
    assert set(only_b["user_id"]) == {"B"} and only_b.height == 2


def test_negatives_are_uniform_over_the_unreviewed_items(tmp_path):
    data = load_amazon(*_random_dump(tmp_path, users=400, items=20, seed=3), seed=5)
    negatives = data.trajectories.filter(pl.col("response") == 0)
    reviewed = set(data.trajectories.filter(pl.col("response") == 1)
                   .select("user_id", "item").iter_rows())
    assert not reviewed & set(negatives.select("user_id", "item").iter_rows())
    counts = negatives.group_by("item").len()["len"].to_numpy()
    assert counts.size == 20 and counts.min() > 0.5 * counts.mean()


def test_seeded(dump):
    one, two = load_amazon(*dump, seed=3), load_amazon(*dump, seed=3)
    assert_frame_equal(one.samples, two.samples)
    assert_frame_equal(one.trajectories, two.trajectories)
    test = one.samples.filter(pl.col("split") == "test")
    assert test.group_by("user_id").agg(pl.col("position").max()).sort("user_id").rows() == [
        ("A", 3), ("B", 1)]


def test_qriql_fits_amazon_trajectories(dump):
    from offline_rl.qriql import QRIQL, QRIQLConfig

    data = load_amazon(*dump, seed=0)
    model = QRIQL(QRIQLConfig(steps=3, batch_size=8, quantiles=2, hidden_dim=8,
                              embedding_dim=4)).fit(data.trajectories.drop("split"),
                                                    item_categories=data.item_categories())
    assert model.mental_rewards(data.trajectories).height == data.trajectories.height


REVIEW_LINE = '{"reviewerID": "A", "asin": "b1", "unixReviewTime": 1}'


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([REVIEW_LINE, '{"reviewerID": "A", "asin": "b2"}'],
         r"reviews_Bad_5.json: line 2 lacks field 'unixReviewTime'; found fields "
         r"\['asin', 'reviewerID'\]"),
        ([REVIEW_LINE, "not json at all"],
         r"line 2 is neither JSON nor a Python literal .*; expected one object per line"),
        (['{"reviewerID": "A", "asin": "b1", "unixReviewTime": "soon"}'],
         r"line 1, field 'unixReviewTime' is 'soon'; expected an integer \(seconds since 1970\)"),
        (['{"reviewerID": "A", "asin": "b1", "unixReviewTime": 1.5}'],
         r"field 'unixReviewTime' is 1.5; expected an integer"),
        (['{"reviewerID": 7, "asin": "b1", "unixReviewTime": 1}'],
         r"line 1, field 'reviewerID' is 7; expected a non-empty string"),
        (['{"reviewerID": "A", "asin": "", "unixReviewTime": 1}'],
         r"field 'asin' is ''; expected a non-empty string"),
        (["[1, 2]"], r"line 1 holds a list; expected an object"),
        ([REVIEW_LINE], "no user has 2 or more"),
        ([""], "no reviews found"),
    ],
)
def test_bad_reviews(tmp_path, dump, lines, match):
    bad = _write(tmp_path / "reviews_Bad_5.json", lines)
    with pytest.raises(SchemaError, match=match):
        load_amazon(bad, dump[1])


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{'asin': 'b1', 'categories': 'Books'}",
         r"meta_Bad.json: line 2, field 'categories' is 'Books'; expected a list of category "
         r"paths, each a list of strings"),
        ("{'asin': 'b1', 'categories': [['Books', 3]]}",
         r"line 2, field 'categories' holds \['Books', 3\]; expected a list of category paths"),
        ("{'title': 'no asin'}", r"line 2 lacks field 'asin'"),
        ("{'asin': 'b1', 'categories': [['Books']", r"line 2 is neither JSON nor a Python literal"),
    ],
)
def test_bad_meta(tmp_path, dump, line, match):
    bad = _write(tmp_path / "meta_Bad.json", ["{'asin': 'b2', 'categories': [['Books']]}", line])
    with pytest.raises(SchemaError, match=match):
        load_amazon(dump[0], bad)


def test_unreviewed_meta_lines_are_skipped_unparsed(tmp_path, dump):
    # an item nobody reviewed is read up to its asin only, so a broken tail does not matter
    meta = _write(tmp_path / "meta_Skip.json", [*META, "{'asin': 'zz', 'categories': [[BROKEN"])
    assert read_meta(meta, asins=["b1"])["asin"].to_list() == ["b1"]
    with pytest.raises(SchemaError, match="line 8 is neither JSON"):
        read_meta(meta)


def test_corrupt_gzip_is_one_clear_error(tmp_path, dump):
    bad = tmp_path / "reviews_Bad_5.json.gz"
    bad.write_bytes(gzip.compress(("\n".join([REVIEW_LINE] * 50)).encode())[:40])
    with pytest.raises(SchemaError, match=r"reviews_Bad_5.json.gz: line \d+ is unreadable"):
        load_amazon(bad, dump[1])


def test_missing_file(tmp_path, dump):
    with pytest.raises(FileNotFoundError, match="No such file"):
        load_amazon(tmp_path / "nope.json", dump[1])


def test_the_loader_does_not_import_torch():
    code = "import sys, offline_rl.data.amazon; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

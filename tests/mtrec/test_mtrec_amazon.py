"""The Amazon review loader on a small hand-made fixture in the original dump format."""

from __future__ import annotations

import json

import polars as pl
import pytest

from offline_rl.data.amazon import load_amazon, read_meta, read_reviews
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
    # user C: one review only -> dropped (needs a history)
    {"reviewerID": "C", "asin": "e3", "unixReviewTime": 10, "overall": 5.0},
]
# The original meta dumps are Python literals (single quotes), one per line.
META = [
    "{'asin': 'b1', 'categories': [['Books', 'Fiction']], 'title': 'One'}",
    "{'asin': 'b2', 'categories': [['Books', 'Poetry'], ['Gifts']]}",
    "{'asin': 'b3', 'categories': [['Books', 'Fiction']]}",
    '{"asin": "e1", "categories": [["Electronics", "Audio"]]}',
    "{'asin': 'e2', 'categories': [['Electronics', 'Audio']]}",
    "{'asin': 'e3', 'categories': [['Electronics', 'Cameras']]}",
    "{'asin': 'x9', 'categories': []}",
]


@pytest.fixture
def dump(tmp_path):
    reviews = tmp_path / "reviews_Toy_5.json"
    reviews.write_text("\n".join(json.dumps(r) for r in REVIEWS) + "\n")
    meta = tmp_path / "meta_Toy.json"
    meta.write_text("\n".join(META) + "\n")
    return reviews, meta


def test_readers(dump):
    reviews, meta = dump
    assert read_reviews(reviews).height == 7
    categories = dict(read_meta(meta).iter_rows())
    assert categories == {"b1": "Fiction", "b2": "Poetry", "b3": "Fiction", "e1": "Audio",
                          "e2": "Audio", "e3": "Cameras", "x9": "unknown"}


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
    assert a["history_categories"][2].to_list() == ["Fiction", "Fiction", "Poetry"]
    assert a["category"].to_list() == ["Fiction", "Poetry", "Audio"]
    assert a["split"].to_list() == ["train", "train", "test"]
    # one negative per positive, same history, never an item the user reviewed
    negatives = samples.filter(pl.col("label") == 0)
    assert negatives.height == samples.filter(pl.col("label") == 1).height
    reviewed = {"A": {items[x] for x in ("b1", "b2", "b3", "e1")}, "B": {items["e2"], items["b1"]}}
    for row in negatives.iter_rows(named=True):
        assert row["item"] not in reviewed[row["user_id"]]
    pairs = samples.group_by("user_id", "position").agg(pl.col("history_items").n_unique())
    assert (pairs["history_items"] == 1).all()


def test_last_step_held_out_and_seeded(dump):
    one, two = load_amazon(*dump, seed=3), load_amazon(*dump, seed=3)
    assert one.samples.equals(two.samples)
    test = one.samples.filter(pl.col("split") == "test")
    assert test.group_by("user_id").agg(pl.col("position").max()).sort("user_id").rows() == [
        ("A", 3), ("B", 1)]


def test_trajectories_follow_the_contract(dump):
    data = load_amazon(*dump, seed=1)
    t = data.trajectories
    a = t.filter(pl.col("user_id") == "A")
    assert a.height == 6 and a["step"].to_list() == list(range(6))
    assert a["done"].to_list() == [False] * 5 + [True]
    assert sorted(a["response"].to_list()) == [0, 0, 0, 1, 1, 1]
    # s' history ends with this step; next_item is the next step's item
    for row in a.iter_rows(named=True):
        assert row["next_history_items"][-1] == row["item"]
        assert row["next_history_responses"][-1] == row["response"]
    assert a["next_item"].to_list()[:-1] == a["item"].to_list()[1:]
    assert a["history_items"][2].to_list() == a["item"].to_list()[:2]
    assert t["event_id"].n_unique() == t.height


def test_qriql_fits_amazon_trajectories(dump):
    from offline_rl.qriql import QRIQL, QRIQLConfig

    data = load_amazon(*dump, seed=0)
    model = QRIQL(QRIQLConfig(steps=3, batch_size=8, quantiles=2, hidden_dim=8,
                              embedding_dim=4)).fit(data.trajectories.drop("split"),
                                                    item_categories=data.item_categories())
    assert model.mental_rewards(data.trajectories).height == data.trajectories.height


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"reviewerID": "A", "asin": "b1"}', r"lacks field\(s\) \['unixReviewTime'\]"),
        ("not json at all", "neither JSON nor a Python literal"),
        ('{"reviewerID": "A", "asin": "b1", "unixReviewTime": "soon"}', "expected an integer"),
        ("[1, 2]", "expected an object"),
        ('{"reviewerID": "A", "asin": "b1", "unixReviewTime": 1}', "no user has 2 or more"),
    ],
)
def test_bad_reviews(tmp_path, dump, content, match):
    _, meta = dump
    bad = tmp_path / "reviews_Bad_5.json"
    bad.write_text(content + "\n")
    with pytest.raises(SchemaError, match=match):
        load_amazon(bad, meta)


def test_missing_file(tmp_path, dump):
    with pytest.raises(FileNotFoundError):
        load_amazon(tmp_path / "nope.json", dump[1])

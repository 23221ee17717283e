"""Optional real-data check: r* against held-out MovieLens-100K ratings.

The ratings are read, at run time, from the example data bundled in the ``recbole`` wheel
(``pip download recbole==1.2.1 --no-deps`` into a cache folder; the data are never copied into
the repository). Each rating is treated like an Amazon review: the rated movie is a positive
step, one movie the user never rated is a sampled negative (:func:`offline_rl.data.amazon.load_amazon`,
genre = first listed genre). QR-IQL and IQ-Learn see only rated / not rated; the rating value
is held out. Reported: Spearman of r* with the rating over the rated steps, and the AUC of r*
separating ratings >= 4 from ratings <= 3.

Skips cleanly (returns ``{"skipped": reason}``) when the wheel cannot be had.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import polars as pl

WHEEL = "recbole-1.2.1-py3-none-any.whl"
INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ITEM = "recbole/dataset_example/ml-100k/ml-100k.item"


def fetch_wheel(cache_dir: str | os.PathLike[str], *, download: bool = True) -> Path | None:
    """The cached recbole wheel, downloaded with pip if absent (None when it cannot be had)."""
    cache = Path(cache_dir)
    wheel = cache / WHEEL
    if wheel.is_file():
        return wheel
    if not download:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "recbole==1.2.1", "--no-deps", "-d",
             str(cache)],
            check=True, capture_output=True, timeout=300,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return wheel if wheel.is_file() else None


def read_ratings(wheel: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ratings: user, item, rating, timestamp; items: item, genre) from the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        inter = archive.read(INTER).decode("utf-8")
        item = archive.read(ITEM).decode("latin-1")
    ratings = pl.read_csv(inter.encode(), separator="\t", infer_schema=False,
                          new_columns=["user", "item", "rating", "timestamp"]).with_columns(
        pl.col("rating").cast(pl.Float64), pl.col("timestamp").cast(pl.Float64).cast(pl.Int64))
    items = pl.read_csv(item.encode(), separator="\t", quote_char=None, infer_schema=False,
                        new_columns=["item", "title", "year", "genres"])
    items = items.select("item", pl.col("genres").fill_null("unknown").str.split(" ")
                         .list.first().alias("genre"))
    return ratings, items


def movielens_check(
    cache_dir: str | os.PathLike[str], *, seed: int = 0, epochs: int = 5,
    download: bool = True, log=print,
) -> dict[str, Any]:
    """Fit QR-IQL and IQ-Learn on rated/not-rated steps; score r* against held-out ratings."""
    from offline_rl.data.amazon import load_amazon
    from offline_rl.evaluation.auc import roc_auc
    from offline_rl.mtrec.experiment import spearman
    from offline_rl.qriql import QRIQL, QRIQLConfig

    wheel = fetch_wheel(cache_dir, download=download)
    if wheel is None:
        return {"skipped": f"recbole==1.2.1 wheel not available in {cache_dir}"}
    ratings, items = read_ratings(wheel)
    with tempfile.TemporaryDirectory() as folder:
        reviews = Path(folder) / "reviews_ML100K_5.json"
        meta = Path(folder) / "meta_ML100K.json"
        reviews.write_text("\n".join(
            json.dumps({"reviewerID": u, "asin": i, "unixReviewTime": int(t)})
            for u, i, t in ratings.select("user", "item", "timestamp").iter_rows()) + "\n")
        meta.write_text("\n".join(
            json.dumps({"asin": i, "categories": [[g]]}) for i, g in items.iter_rows()) + "\n")
        data = load_amazon(reviews, meta, seed=seed)
    trajectories = data.trajectories.drop("split")
    asin = data.items.select("item", pl.col("asin").alias("movie"))
    rated = (trajectories.filter(pl.col("response") == 1).select("event_id", "user_id", "item")
             .join(asin, on="item")
             .join(ratings.select(pl.col("user").alias("user_id"), pl.col("item").alias("movie"),
                                  "rating"), on=["user_id", "movie"]))
    # Baseline that needs no reward model: how often the movie was rated (popularity).
    popularity = rated.join(rated.group_by("item").len("popularity"), on="item")
    result: dict[str, Any] = {
        "ratings": ratings.height, "trajectory_steps": trajectories.height,
        "rated_steps": rated.height,
        "spearman_rating_item_popularity": spearman(popularity["popularity"],
                                                    popularity["rating"]),
        "auc_rating_ge_4_item_popularity": roc_auc((popularity["rating"] >= 4).to_numpy(),
                                                   popularity["popularity"].to_numpy()),
    }
    for name, quantiles in (("QR-IQL", 10), ("IQ-Learn", 1)):
        model = QRIQL(QRIQLConfig(quantiles=quantiles, epochs=epochs, seed=seed)).fit(
            trajectories, item_categories=data.item_categories())
        rewards = model.mental_rewards(trajectories).select(
            "event_id", "mental_reward",
            (pl.col("mental_reward_positive") - pl.col("mental_reward_negative")).alias("adv"))
        joined = rated.join(rewards, on="event_id")
        liked = (joined["rating"] >= 4).to_numpy()
        result[name] = {
            "spearman_rating": spearman(joined["mental_reward"], joined["rating"]),
            "spearman_rating_advantage": spearman(joined["adv"], joined["rating"]),
            "auc_rating_ge_4": roc_auc(liked, joined["mental_reward"].to_numpy()),
            "auc_rating_ge_4_advantage": roc_auc(liked, joined["adv"].to_numpy()),
            "fit_seconds": model.fit_seconds_,
        }
        log(f"MovieLens {name}: {result[name]}")
    return result


if __name__ == "__main__":  # pragma: no cover - benchmark entry point
    print(json.dumps(movielens_check(sys.argv[1] if len(sys.argv) > 1 else ".bench/recbole"),
                     indent=2))

"""Optional real-data check: r* against held-out MovieLens-100K ratings.

The data come from :func:`offline_rl.data.movielens.load_movielens_100k` (user-supplied; not
shipped, never downloaded): each rating is a positive step, one movie the user never rated a
sampled negative. QR-IQL and IQ-Learn see only rated / not rated; the rating value is held out.
Reported: Spearman of r* (and of ``r*(s, a^P) - r*(s, a^N)``) with the rating over the rated
steps, the AUC of r* separating ratings >= 4 from ratings <= 3, and the same for a baseline
that needs no model, the movie's number of ratings (popularity).

``python -m offline_rl.mtrec.movielens [PATH] [--seed S] [--epochs E]`` prints the result as
JSON (PATH defaults to ``.bench/recbole``, where docs/qriql.md suggests putting the wheel).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click
import polars as pl

from offline_rl.data.movielens import load_movielens_100k
from offline_rl.errors import SchemaError
from offline_rl.evaluation.auc import roc_auc
from offline_rl.mtrec.experiment import REWARD_MODELS, spearman
from offline_rl.qriql import QRIQL, QRIQLConfig

logger = logging.getLogger(__name__)


def movielens_check(
    path: str | os.PathLike[str], *, seed: int = 0, epochs: int = 5,
) -> dict[str, Any]:
    """Fit QR-IQL and IQ-Learn on rated/not-rated steps; score r* against held-out ratings.

    ``path``: see :func:`offline_rl.data.movielens.load_movielens_100k` (FileNotFoundError
    when the data are not there). Each reward model trains ``epochs`` passes at the default
    batch size, seeded with ``seed`` like the negatives' sampling.
    """
    data = load_movielens_100k(path, seed=seed)
    trajectories = data.implicit.trajectories.drop("split")
    rated = data.rated_steps
    popularity = rated.join(rated.group_by("item").len("popularity"), on="item")
    result: dict[str, Any] = {
        "ratings": data.ratings.height, "trajectory_steps": trajectories.height,
        "rated_steps": rated.height,
        "spearman_rating_item_popularity": spearman(popularity["popularity"],
                                                    popularity["rating"]),
        "auc_rating_ge_4_item_popularity": roc_auc((popularity["rating"] >= 4).to_numpy(),
                                                   popularity["popularity"].to_numpy()),
    }
    for name, quantiles in REWARD_MODELS:
        model = QRIQL(QRIQLConfig(quantiles=quantiles, epochs=epochs, seed=seed)).fit(
            trajectories, item_categories=data.implicit.item_categories())
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
        logger.info("MovieLens %s: %s", name, result[name])
    return result


@click.command(help=__doc__.splitlines()[0])
@click.argument("path", default=".bench/recbole")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything.")
@click.option("--epochs", type=int, default=5, show_default=True,
              help="Passes of each reward model over the steps.")
def main(path: str, seed: int, epochs: int) -> None:
    """Benchmark entry point: the result as JSON on stdout; bad or missing data exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = movielens_check(path, seed=seed, epochs=epochs)
    except (FileNotFoundError, SchemaError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, indent=2))


if __name__ == "__main__":  # pragma: no cover - benchmark entry point
    main()

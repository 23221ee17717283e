"""The optional MovieLens check: a clear error without data, and a seeded run on small files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from offline_rl.mtrec.movielens import main, movielens_check


@pytest.fixture(scope="module")
def small_movielens(tmp_path_factory):
    """40 users rating 60 movies, in RecBole's ML-100K atomic-file layout."""
    folder = tmp_path_factory.mktemp("ml-100k")
    rng = np.random.default_rng(0)
    quality = rng.normal(size=60)
    ratings = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(1, 41):
        for movie in rng.choice(60, size=int(rng.integers(3, 12)), replace=False):
            rating = int(np.clip(np.round(3 + quality[movie] + rng.normal()), 1, 5))
            ratings.append(f"{user}\t{movie + 1}\t{rating}\t{int(rng.integers(0, 10**6))}")
    movies = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    movies += [f"{m + 1}\tMovie {m + 1}\t1990\t{('Drama', 'Comedy Drama', 'Horror')[m % 3]}"
               for m in range(60)]
    (folder / "ml-100k.inter").write_text("\n".join(ratings) + "\n")
    (folder / "ml-100k.item").write_text("\n".join(movies) + "\n", encoding="latin-1")
    return folder


def _without_timings(result: dict) -> dict:
    return {k: ({kk: vv for kk, vv in v.items() if kk != "fit_seconds"} if isinstance(v, dict)
                else v) for k, v in result.items()}


def test_runs_and_is_seeded(small_movielens):
    first = movielens_check(small_movielens, epochs=1)
    assert first["rated_steps"] * 2 == first["trajectory_steps"] <= 2 * first["ratings"]
    # the figures recomputed independently (scipy's Spearman, sklearn's AUC) from the loader
    # and a reward model fitted the same way
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from offline_rl.data.movielens import load_movielens_100k
    from offline_rl.qriql import QRIQL, QRIQLConfig

    data = load_movielens_100k(small_movielens, seed=0)
    rated = data.rated_steps
    popularity = rated.join(rated.group_by("item").len("n"), on="item")
    assert first["spearman_rating_item_popularity"] == pytest.approx(
        spearmanr(popularity["n"], popularity["rating"]).statistic, abs=1e-12)
    steps = data.implicit.trajectories.drop("split")
    model = QRIQL(QRIQLConfig(quantiles=10, epochs=1, seed=0)).fit(
        steps, item_categories=data.implicit.item_categories())
    joined = rated.join(model.mental_rewards(steps), on="event_id")
    assert first["QR-IQL"]["spearman_rating"] == pytest.approx(
        spearmanr(joined["mental_reward"], joined["rating"]).statistic, abs=1e-12)
    assert first["QR-IQL"]["auc_rating_ge_4"] == pytest.approx(
        roc_auc_score(joined["rating"] >= 4, joined["mental_reward"]), abs=1e-12)
    assert _without_timings(movielens_check(small_movielens, epochs=1)) == _without_timings(first)
    printed = CliRunner().invoke(main, [str(small_movielens), "--epochs", "1"])
    assert printed.exit_code == 0, printed.output
    assert _without_timings(json.loads(printed.stdout)) == _without_timings(first)


def test_missing_data_raises_and_the_entry_point_exits_2(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        movielens_check(tmp_path)
    result = CliRunner().invoke(main, [str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: No MovieLens-100K at") and not result.stdout

"""Table 1 on an Amazon category: which rows fit and score what, and the command line."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from offline_rl.cli import main
from offline_rl.data.amazon import load_amazon
from offline_rl.mtrec.amazon import amazon_alignment_data, amazon_selection
from offline_rl.mtrec.experiment import ExperimentConfig
from offline_rl.mtrec.protocol import split_users

TINY = ["--reward-steps", "2", "--ctr-epochs", "1", "--backbones", "din",
        "--n-replicates", "20"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """60 users reviewing 3-7 of 40 items; gzip reviews, Python-literal meta (as downloaded)."""
    folder = tmp_path_factory.mktemp("amazon")
    rng = np.random.default_rng(0)
    reviews = [json.dumps({"reviewerID": f"U{u:02d}", "asin": f"B{i:03d}",
                           "unixReviewTime": int(t), "reviewText": "fine"})
               for u in range(60)
               for t, i in enumerate(rng.choice(40, int(rng.integers(3, 8)), replace=False))]
    (folder / "reviews_Toy_5.json.gz").write_bytes(gzip.compress("\n".join(reviews).encode()))
    meta = [repr({"asin": f"B{i:03d}", "title": f"item {i}",
                  "categories": [["Toy"], ["Toy", f"Kind {i % 5}"]]}) for i in range(45)]
    (folder / "meta_Toy.json").write_text("\n".join(meta) + "\n")
    return folder


def test_rows_of_each_role_never_overlap(folder):
    data = load_amazon(folder / "reviews_Toy_5.json.gz", folder / "meta_Toy.json", seed=0)
    users = data.samples["user_id"].unique().sort().to_list()
    train_users, ncis_users = split_users(users, 0.1, [0, 7])
    assert len(ncis_users) == 6 and not set(train_users) & set(ncis_users)
    table = amazon_alignment_data(data, train_users, ncis_users)
    # reward models: the train positions of the training users only
    assert set(table.reward_train["user_id"]) <= set(train_users)
    assert set(table.reward_train["split"]) == {"train"}
    # CTR training rows: the training users' earlier positions; AUC: their last review
    assert set(table.ctr_train["split"]) == {"train"}
    assert set(table.auc_rows["split"]) == {"test"}
    assert set(table.auc_rows["user_id"]) == set(train_users)
    assert table.auc_rows.height == 2 * len(train_users)
    # NCIS: every reviewed item of the held-out users, one trajectory per user
    assert set(table.ncis_rows["user_id"]) == set(ncis_users)
    assert set(table.ncis_rows["label"]) == {1}
    held = data.samples.filter(pl.col("user_id").is_in(ncis_users) & (pl.col("label") == 1))
    assert table.ncis_rows.height == held.height
    assert (table.ncis_trajectories == table.ncis_rows["user_id"].to_numpy()).all()
    # every CTR training row has a reward row (joined by event_id)
    assert set(table.ctr_train["event_id"]) <= set(table.reward_train["event_id"])
    # the validation split comes from the training users only
    selection = amazon_selection(ExperimentConfig(), 0, data, train_users)
    validation = set(selection.auc_rows["user_id"])
    assert validation <= set(train_users) and not validation & set(selection.ctr_train["user_id"])
    assert not validation & set(selection.reward_train["user_id"])


def test_command_runs_table_1_on_the_category(folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--amazon", str(folder),
                                       "--category", "Toy", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    table = pl.read_csv(out / "mtrec_table.csv")
    assert table["model"].to_list() == ["DIN", "DIN-IRL", "DIN-MTRec"]
    assert result.stdout == (out / "mtrec_table.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == "Amazon Toy"
    assert (summary["users"], summary["items"], summary["categories"]) == (60, 40, 5)
    assert summary["ncis_users"] == 6 and summary["train_users"] == 54
    by_position = pl.read_csv(out / "mental_reward_by_position.csv")
    assert by_position["position"].min() == 0  # the first review is a scored step
    assert "Amazon Toy: 60 users" in result.stderr


def test_command_tunes_on_validation_users(folder, tmp_path):
    out = tmp_path / "tuned"
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--amazon", str(folder),
                                       "--category", "Toy", "--out", str(out), *TINY,
                                       "--tune", "--kappa-grid", "0.1,1"])
    assert result.exit_code == 0, result.output
    grid = pl.read_csv(out / "alignment_grid.csv")
    assert grid.height == 2 * 2 * 2  # reward models x kappas x standardisation
    table = pl.read_csv(out / "mtrec_table.csv").filter(pl.col("reward_model") != "none")
    for row in table.iter_rows(named=True):
        options = grid.filter(pl.col("reward_model") == row["reward_model"])
        best = options.sort("validation_auc", descending=True, maintain_order=True).row(
            0, named=True)
        assert (row["kappa"], row["standardize_rewards"]) == (best["kappa"],
                                                               best["standardize_rewards"])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--category", "Toy"], "--amazon DIR and --category NAME go together"),
        (["--amazon", "."], "--amazon DIR and --category NAME go together"),
    ],
)
def test_command_usage_errors_exit_2(tmp_path, args, match):
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--out", str(tmp_path / "o"),
                                       *args])
    assert result.exit_code == 2 and match in result.output


def test_bad_input_is_one_message_exit_2_and_no_output(folder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "reviews_Toy_5.json.gz").write_bytes((folder / "reviews_Toy_5.json.gz").read_bytes())
    lines = (folder / "meta_Toy.json").read_text().splitlines()
    lines[3] = "{'asin': 'B003', 'categories': 'Toy'}"
    (bad / "meta_Toy.json").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["experiment", "mtrec", "--amazon", str(bad),
                                       "--category", "Toy", "--out", str(out), *TINY])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "meta_Toy.json: line 4, field 'categories' is 'Toy'; expected a list of category" \
        in result.stderr
    assert not out.exists()
    missing = CliRunner().invoke(main, ["experiment", "mtrec", "--amazon", str(bad),
                                        "--category", "Books", "--out", str(out)])
    assert missing.exit_code == 2 and "reviews_Books_5.json" in missing.stderr

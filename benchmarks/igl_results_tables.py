"""Markdown tables for docs/igl.md (Results) from the experiments' and studies' output folders.

Usage::

    python benchmarks/igl_results_tables.py --runs runs

reads whichever of these exist under ``--runs`` and prints their tables:
``covertype/covertype_seeds.parquet``, ``production/production_seeds*.parquet``,
``production_worlds/production_worlds*.parquet``, ``news/news_seeds*.parquet``,
``production_study/{study,diagnostics}.parquet`` and ``news_study/{groups,diagnostics}.parquet``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import polars as pl


def markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        if isinstance(v, list):
            return "[" + ", ".join(cell(x) for x in v) + "]"
        return str(v)

    lines = ["| " + " | ".join(frame.columns) + " |",
             "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def mmm(frame: pl.DataFrame, by: list[str], column: str, digits: int = 3) -> pl.DataFrame:
    """``min / median / max`` of ``column`` over seeds, as text, per ``by`` group."""
    return frame.group_by(by, maintain_order=True).agg(
        pl.format("{} / {} / {}", *(getattr(pl.col(column), f)().round(digits)
                                   for f in ("min", "median", "max"))).alias(column))


def interval(prefix: str) -> pl.Expr:
    return pl.format("[{}, {}, {}]", *(pl.col(f"{prefix}_{c}").round(3)
                                       for c in ("lower", "point", "upper")))


def covertype(runs: Path) -> None:
    path = runs / "covertype" / "covertype_seeds.parquet"
    if not path.exists():
        return
    t = pl.read_parquet(path)
    cols = ["seed", "decoded_precision", "decoded_recall", "decoded_f1", "naive_f1",
            "policy_reward_rate", "oracle_reward_rate", "oracle_ratio", "majority_rate",
            "user_purity_reading", "user_purity_embedding", "word_purity_embedding",
            "best_restart", "fit_seconds", "passed"]
    print("## Covertype per seed\n")
    print(markdown(t.select([c for c in cols if c in t.columns]), 4))
    print()


def stacked(folder: Path, stem: str, suffix: str = "") -> pl.DataFrame:
    """Every per-seed file ``{stem}{S}{suffix}.parquet`` of ``folder`` stacked (so seeds run
    by separate commands into one folder are all read), sorted by seed."""
    pattern = re.compile(rf"{re.escape(stem)}\d+{re.escape(suffix)}\.parquet")
    paths = sorted(p for p in folder.glob("*.parquet") if pattern.fullmatch(p.name))
    return pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed").sort(
        "seed", maintain_order=True)


def production(runs: Path, folder: str, stem: str) -> None:
    path = runs / folder / f"{stem}.parquet"
    if not path.exists():
        return
    seed_stem = stem.replace("_seeds", "_seed").replace("_worlds", "_seed")
    t = stacked(runs / folder, seed_stem) if folder == "production" else pl.read_parquet(path)
    print(f"## {folder}: ratios over the baseline per seed\n")
    print(markdown(t.select("world", "seed", "algorithm", "metric",
                            interval("ope").alias("off-policy (SNIPS)"),
                            interval("on_policy").alias("on-policy"), "agree")))
    print(f"\n## {folder}: point ratios, min / median / max over seeds\n")
    a = mmm(t, ["world", "algorithm", "metric"], "ope_point").join(
        mmm(t, ["world", "algorithm", "metric"], "on_policy_point"),
        on=["world", "algorithm", "metric"])
    print(markdown(a))
    latent = (stacked(runs / folder, seed_stem, "_latent") if folder == "production"
              else pl.read_parquet(runs / folder / f"{stem}_latent.parquet"))
    print(f"\n## {folder}: expected rates on fresh traffic (%), per seed\n")
    pct = latent.with_columns([(pl.col(c) * 100).round(2) for c in
                               ("positive_rate", "negative_rate", "clicks_rate", "likes_rate",
                                "dislikes_rate")])
    print(markdown(pct.select("world", "seed", "policy", "positive_rate", "negative_rate",
                              "clicks_rate", "likes_rate", "dislikes_rate"), 2))
    rates = ("clicks_rate", "likes_rate", "dislikes_rate")
    base = latent.filter(pl.col("policy") == "baseline").select(
        "world", "seed", *(pl.col(c).alias(f"base_{c}") for c in rates))
    ratio = latent.join(base, on=["world", "seed"]).with_columns(
        (pl.col(c) / pl.col(f"base_{c}")).alias(c.replace("_rate", "_ratio")) for c in rates
    ).filter(pl.col("policy") != "baseline")
    print(f"\n## {folder}: expected-rate ratios over the baseline (truth, in expectation), "
          "per seed\n")
    extra = [c for c in ("alpha_estimate", "ik_held_out_nll", "ik_no_signal_nll")
             if c in ratio.columns]
    print(markdown(ratio.select("world", "seed", "policy", "clicks_ratio", "likes_ratio",
                                "dislikes_ratio", *extra)))
    print(f"\n## {folder}: expected-rate ratios, min / median / max over seeds\n")
    out = None
    for column in ("clicks_ratio", "likes_ratio", "dislikes_ratio"):
        part = mmm(ratio, ["world", "policy"], column)
        out = part if out is None else out.join(part, on=["world", "policy"])
    print(markdown(out))
    claims = (stacked(runs / folder, seed_stem, "_claims") if folder == "production"
              else pl.read_parquet(runs / folder / f"{stem}_claims.parquet"))
    print(f"\n## {folder}: claims by seed\n")
    keys = ["world", "claim", "algorithm"]
    print(markdown(claims.group_by(keys, maintain_order=True).agg(
        pl.col("seed").filter(pl.col("passed")).alias("holds on"),
        pl.col("seed").filter(~pl.col("passed")).alias("fails on"))))
    print()


def news(runs: Path) -> None:
    path = runs / "news" / "news_seeds_fairness.parquet"
    if not path.exists():
        return
    f = pl.read_parquet(path)
    t = pl.read_parquet(runs / "news" / "news_seeds.parquet")
    print("## News per seed and group (positive / negative fraction)\n")
    shown = t.with_columns(pl.format("{} / {}", pl.col("positive_fraction").round(3),
                                     pl.col("negative_fraction").round(3)).alias("cell"))
    print(markdown(shown.pivot(on="group", index=["seed", "algorithm"], values="cell")))
    print("\n## News fairness per seed\n")
    print(markdown(f.select("seed", "algorithm", "positive_spread", "negative_spread",
                            pl.format("{} ({})", pl.col("worst_positive").round(3),
                                      "worst_positive_group").alias("worst positive"),
                            pl.format("{} ({})", pl.col("worst_negative").round(3),
                                      "worst_negative_group").alias("worst negative"),
                            "positive_mean", "negative_mean")))
    print("\n## News fairness, min / median / max over seeds\n")
    out = None
    for column in ("positive_spread", "negative_spread", "worst_positive", "worst_negative",
                   "positive_mean", "negative_mean"):
        part = mmm(f, ["algorithm"], column)
        out = part if out is None else out.join(part, on="algorithm")
    print(markdown(out))
    claims = pl.read_parquet(runs / "news" / "news_seeds_claims.parquet")
    print("\n## News claims by seed\n")
    print(markdown(claims.group_by(["claim", "algorithm"], maintain_order=True).agg(
        pl.col("seed").filter(pl.col("passed")).alias("holds on"),
        pl.col("seed").filter(~pl.col("passed")).alias("fails on"))))
    print()


def production_study(runs: Path) -> None:
    path = runs / "production_study" / "study.parquet"
    if not path.exists():
        return
    s = pl.read_parquet(path)
    for metric in ("dislikes_ratio", "likes_ratio", "clicks_ratio"):
        print(f"## Production study: {metric}, min / median / max over seeds, per world\n")
        a = mmm(s, ["world", "policy"], metric)
        print(markdown(a.pivot(on="world", index="policy", values=metric)))
        print()
    d = pl.read_parquet(runs / "production_study" / "diagnostics.parquet")
    cols = [c for c in d.columns if c not in ("world", "seed", "describe", "ik_seconds")]
    out = None
    for column in cols:
        part = mmm(d, ["world"], column)
        out = part if out is None else out.join(part, on="world")
    print("## Production study: IK diagnostics, min / median / max over seeds\n")
    print(markdown(out.transpose(include_header=True, header_name="diagnostic",
                                 column_names="world")))
    print()


def news_study(runs: Path) -> None:
    path = runs / "news_study" / "diagnostics.parquet"
    if not path.exists():
        return
    d = pl.read_parquet(path)
    g = pl.read_parquet(runs / "news_study" / "groups.parquet")
    print("## News study: per seed and group, positive / negative fraction by policy\n")
    shown = g.with_columns(pl.format("{} / {}", pl.col("positive_fraction").round(3),
                                     pl.col("negative_fraction").round(3)).alias("cell"))
    print(markdown(shown.pivot(on="policy", index=["seed", "group"], values="cell")))
    print("\n## News study: diagnostics per seed and group\n")
    print(markdown(d.select(
        "seed", "group", "alpha", "ik_out_of_fold_nll", "ik_no_signal_nll", "decoded_pos_precision", "decoded_pos_recall",
        "decoded_neg_recall", "mean_r_hat_pos", "mean_r_hat_neg", "ideal_mean_r_hat_neg",
        "extreme_neg_share_angry", "p_pos_post_q90", "p_neg_post_q10")))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    covertype(args.runs)
    production(args.runs, "production", "production_seeds")
    production(args.runs, "production_worlds", "production_worlds")
    news(args.runs)
    production_study(args.runs)
    news_study(args.runs)


if __name__ == "__main__":
    main()

"""Real-data check on the Open Bandit Dataset sample: Bernoulli TS estimated from random logs.

The uniform-random campaign's logs (``p = 1/80`` per item and position) are used to
estimate the click rate of the Bernoulli Thompson sampling (BTS) policy, which is compared
with the click rate BTS actually obtained on its own traffic (its on-policy mean).

Approximation (documented in docs/evaluation.md): the sample does not ship BTS's action
probabilities for the random logs' rounds. obp recomputes them by simulating BTS with the
ZOZOTOWN prior; with only the 10k-row sample we take BTS's *empirical* item frequency per
position in its own logs, ``pi_bts(a | position) = #(a, position) / #position``, as the
candidate policy. This ignores BTS's drift over the week and the users' features (BTS's
probabilities do not depend on them), so agreement is expected within sampling error plus
a small approximation bias.

References
----------
Saito, Y. et al. (2021). Open Bandit Dataset and Pipeline. *NeurIPS Datasets and
Benchmarks*, sec. 5 (estimating BTS from the random logs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from offline_rl.evaluation.delta import delta_intervals
from offline_rl.evaluation.design import build_design


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, columns=["item_id", "position", "click", "propensity_score"])


def bts_from_random_check(dataset_dir: str | os.PathLike[str]) -> dict[str, float]:
    """Estimate BTS's click rate from the random logs and return it beside BTS's own.

    Parameters
    ----------
    dataset_dir
        Folder holding ``random/all.csv.gz`` and ``bts/all.csv.gz``.

    Returns
    -------
    dict
        ``bts_on_policy``, ``bts_on_policy_se``, ``random_on_policy``, ``ips``, ``ips_se``,
        ``snips``, ``snips_se`` (delta-method standard errors), ``ess``, ``max_weight``,
        ``n_random``, ``n_bts``.
    """
    root = Path(dataset_dir)
    random_logs = _read(root / "random" / "all.csv.gz")
    bts_logs = _read(root / "bts" / "all.csv.gz")
    frequency = (
        bts_logs.group_by("position", "item_id")
        .len()
        .with_columns((pl.col("len") / pl.col("len").sum().over("position")).alias("pi_bts"))
    )
    joined = random_logs.join(frequency, on=["position", "item_id"], how="left").with_columns(
        pl.col("pi_bts").fill_null(0.0)
    )
    clicks = joined["click"].cast(pl.Float64).to_numpy()
    propensity = joined["propensity_score"].to_numpy()
    target = joined["pi_bts"].to_numpy()
    design = build_design(
        propensity=propensity,
        policies={"bts": target},
        rewards={"click": clicks},
        estimators=("ips", "snips"),
    )
    delta = delta_intervals(design.statistics(), design.functionals)
    index = {(k.estimator, k.quantity): i for i, k in enumerate(design.keys)}
    weights = target / propensity
    bts_clicks = bts_logs["click"].cast(pl.Float64).to_numpy()
    return {
        "bts_on_policy": float(bts_clicks.mean()),
        "bts_on_policy_se": float(bts_clicks.std(ddof=1) / np.sqrt(bts_clicks.size)),
        "random_on_policy": float(clicks.mean()),
        "ips": float(delta.point[index[("ips", "value")]]),
        "ips_se": float(delta.standard_error[index[("ips", "value")]]),
        "snips": float(delta.point[index[("snips", "value")]]),
        "snips_se": float(delta.standard_error[index[("snips", "value")]]),
        "ess": float(weights.sum() ** 2 / np.dot(weights, weights)),
        "max_weight": float(weights.max()),
        "n_random": int(clicks.size),
        "n_bts": int(bts_clicks.size),
    }


def greedy_lift_check(
    dataset_dir: str | os.PathLike[str], *, epsilon: float = 0.05, n_replicates: int = 1000
) -> dict:
    """Click lift of an epsilon-greedy policy over the uniform-random logs (issue #12).

    The greedy item is the one Bernoulli TS showed most often in its own logs (item 51);
    the policy shows it with probability ``1 - epsilon + epsilon / 80`` and any other item
    with ``epsilon / 80``. In the random logs that item has 113 impressions and no click, so
    the data cannot tell its click rate apart from 0 or from several times the 0.38% base
    rate: the lift must not be reported as a confident interval.

    Returns
    -------
    dict
        The SNIPS lift row of :meth:`EvaluationResult.lift` (lower, point, upper, reliable,
        reliability_reason, effective_positives, ess, max_weight, ...), plus
        ``greedy_item``, ``greedy_impressions`` and ``greedy_clicks``.
    """
    from offline_rl.evaluation.evaluate import EvaluationConfig, evaluate_arrays

    root = Path(dataset_dir)
    random_logs = _read(root / "random" / "all.csv.gz")
    bts_logs = _read(root / "bts" / "all.csv.gz")
    greedy = int(bts_logs.group_by("item_id").len().sort(["len", "item_id"], descending=True)["item_id"][0])
    n_items = random_logs["item_id"].n_unique()
    items = random_logs["item_id"].to_numpy()
    target = np.where(items == greedy, 1.0 - epsilon + epsilon / n_items, epsilon / n_items)
    clicks = random_logs["click"].cast(pl.Float64).to_numpy()
    result = evaluate_arrays(
        propensity=random_logs["propensity_score"].to_numpy(),
        policies={"greedy": target},
        rewards={"click": clicks},
        config=EvaluationConfig(estimators=("ips", "snips"), n_replicates=n_replicates),
    )
    row = result.lift().filter(pl.col("estimator") == "snips").row(0, named=True)
    shown = items == greedy
    return {
        **row,
        "greedy_item": greedy,
        "greedy_impressions": int(shown.sum()),
        "greedy_clicks": int(clicks[shown].sum()),
    }

"""MTRec's Table 1 on any data: base vs aligned backbones with paired intervals and controls.

The protocol, shared by the sessions simulator (:mod:`offline_rl.mtrec.experiment`) and the
Amazon dumps (:mod:`offline_rl.mtrec.amazon`), takes an :class:`AlignmentData` (which rows
each model fits and is scored on) and the mental rewards of two reward models
(:data:`REWARD_MODELS`, QR-IQL and IQ-Learn) and, per backbone:

1. trains the base model (kappa = 0) and the ``-IRL`` / ``-MTRec`` models (kappa > 0 with
   IQ-Learn / QR-IQL rewards). The three share seed, initialisation and batch order, so the
   untrained networks are identical and every difference is the alignment's;
2. reports the AUC on the AUC rows and NCIS minus the untrained network's on the NCIS rows;
3. for each aligned model, the *paired* cluster-bootstrap interval
   (:mod:`offline_rl.evaluation.paired`; users are the clusters, one resample per run shared
   by every difference) of ``AUC(aligned) - AUC(base)`` and ``NCIS(aligned) - NCIS(base)``,
   and of ``NCIS(aligned) - NCIS(control)`` for two CTR-level controls, the base model's
   logits shifted to the aligned model's mean CTR and to its mean ``log p`` on the NCIS rows
   (:mod:`offline_rl.mtrec.controls`); a cell is marked ``higher`` / ``lower`` when its
   interval excludes 0.

With ``tune_alignment`` the aligned models' kappa and reward standardisation are chosen per
(backbone, reward model) by the AUC on a validation split carved from the *training users*
(:func:`choose_alignment`): reward and CTR models are refitted on the remaining training
users, scored on the validation users, and the test rows are never looked at.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from tqdm import tqdm

from offline_rl.evaluation.auc import roc_auc
from offline_rl.evaluation.paired import paired_auc_difference, paired_ncis_difference
from offline_rl.mtrec.classifier import MTRecClassifier, MTRecConfig
from offline_rl.mtrec.controls import shift_to_mean, shift_to_mean_log
from offline_rl.qriql import QRIQL, QRIQLConfig

logger = logging.getLogger(__name__)

DISPLAY = {"wide_deep": "Wide&Deep", "deepfm": "DeepFM", "pnn": "PNN", "din": "DIN",
           "dien": "DIEN", "sasrec": "SASRec"}
#: The two reward models of every experiment: name -> quantile heads N (1 = IQ-Learn).
REWARD_MODELS = (("QR-IQL", 10), ("IQ-Learn", 1))
#: Table 1's aligned rows: reward model -> suffix of the row's name (the base row has none).
ALIGNED_ROWS = (("IQ-Learn", "-IRL"), ("QR-IQL", "-MTRec"))
#: Probability floor of the NCIS products (a zero would end a trajectory's weight).
NCIS_FLOOR = 1e-6
#: Significance marks of the markdown table.
MARKS = {"higher": " ▲", "lower": " ▼", "": ""}


@dataclass(frozen=True, eq=False)
class AlignmentData:
    """Which rows every model of one Table-1 run fits and is scored on.

    Attributes
    ----------
    reward_train : polars.DataFrame
        ``user_trajectories`` rows the reward models fit on.
    ctr_train : polars.DataFrame
        Rows the CTR backbones fit on; carry ``event_id`` (joined to the rewards by key) and
        the ``label`` column.
    auc_rows : polars.DataFrame
        Rows scored by AUC (with ``label``); ``auc_clusters`` their users.
    ncis_rows : polars.DataFrame
        Logged steps scored by trajectory NCIS; ``ncis_trajectories`` and ``ncis_clusters``
        (users, constant within a trajectory) per row. May be empty (validation splits).
    item_categories : dict
        Item id -> category for the backbones and the reward models.
    label : str
        The label column (``response`` for trajectories, ``label`` for DIN samples).
    """

    reward_train: pl.DataFrame
    ctr_train: pl.DataFrame
    auc_rows: pl.DataFrame
    auc_clusters: np.ndarray
    ncis_rows: pl.DataFrame
    ncis_trajectories: np.ndarray
    ncis_clusters: np.ndarray
    item_categories: dict[Any, Any]
    label: str


@dataclass(frozen=True)
class AlignmentChoice:
    """The kappa and standardisation of one aligned row, and how they were chosen."""

    kappa: float
    standardize_rewards: bool
    validation_auc: float = float("nan")
    validation_base_auc: float = float("nan")


def fit_reward_models(
    cfg, trajectories: pl.DataFrame, seed: int, *, gamma: float,
    item_categories: dict[Any, Any] | None = None,
) -> dict[str, QRIQL]:
    """QR-IQL and IQ-Learn (:data:`REWARD_MODELS`) fitted on ``trajectories`` with ``gamma``.

    ``cfg`` supplies ``reward_steps``, ``reward_batch_size`` and ``max_threads``.
    """
    return {
        name: QRIQL(QRIQLConfig(quantiles=quantiles, steps=cfg.reward_steps,
                                batch_size=cfg.reward_batch_size, gamma=gamma, seed=seed,
                                max_threads=cfg.max_threads)).fit(
            trajectories, item_categories=item_categories)
        for name, quantiles in REWARD_MODELS
    }


def mental_rewards(models: dict[str, QRIQL], rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Each reward model's :meth:`QRIQL.mental_rewards` on ``rows``."""
    return {name: model.mental_rewards(rows) for name, model in models.items()}


def split_users(users, fraction: float, seed) -> tuple[list[Any], list[Any]]:
    """(kept, held out): ``max(1, int(n * fraction))`` of the sorted distinct users drawn
    without replacement with ``numpy.random.default_rng(seed)``."""
    ordered = np.sort(np.unique(np.asarray(users)))
    rng = np.random.default_rng(seed)
    size = max(1, int(len(ordered) * fraction))
    held = set(rng.choice(ordered, size=size, replace=False).tolist())
    return [u for u in ordered.tolist() if u not in held], sorted(held)


class _Scores:
    """One fitted CTR model's probabilities on the AUC and NCIS rows, trained and untrained."""

    def __init__(self, model: MTRecClassifier, data: AlignmentData) -> None:
        self.auc = model.predict_proba(data.auc_rows)
        self.ncis = np.clip(model.predict_proba(data.ncis_rows), NCIS_FLOOR, 1.0)
        self.ncis_untrained = np.clip(model.predict_proba(data.ncis_rows, untrained=True),
                                      NCIS_FLOOR, 1.0)
        self.loss_curve = model.loss_curve_


def _fit(cfg, seed: int, data: AlignmentData, backbone: str, choice: AlignmentChoice | None,
         rewards: pl.DataFrame | None) -> MTRecClassifier:
    kappa = 0.0 if choice is None else choice.kappa
    standardize = True if choice is None else choice.standardize_rewards
    return MTRecClassifier(MTRecConfig(
        backbone=backbone, kappa=kappa, standardize_rewards=standardize,
        epochs=cfg.ctr_epochs, seed=seed, max_threads=cfg.max_threads,
    )).fit(data.ctr_train, rewards=rewards if kappa > 0 else None,
           item_categories=data.item_categories, label=data.label)


def _interval_columns(prefix: str, result) -> dict[str, Any]:
    return {f"{prefix}": result.difference, f"{prefix}_lower": result.lower,
            f"{prefix}_upper": result.upper, f"{prefix}_se": result.standard_error,
            f"{prefix}_significant": result.direction}


def alignment_table(
    cfg, seed: int, data: AlignmentData, rewards: dict[str, pl.DataFrame], *,
    choices: dict[tuple[str, str], AlignmentChoice] | None = None, progress: bool = False,
) -> pl.DataFrame:
    """Table 1: per backbone the base row, then the ``-IRL`` and ``-MTRec`` rows.

    ``cfg`` (an :class:`~offline_rl.mtrec.experiment.ExperimentConfig`) supplies backbones,
    kappa, ctr_epochs, n_replicates, confidence and max_threads; ``choices`` maps
    (backbone, reward model) to the aligned row's kappa/standardisation (default: ``cfg.kappa``
    and standardised rewards). Columns: model, backbone, reward_model, kappa,
    standardize_rewards, auc, ncis (minus untrained), ncis_ess, mean_prob and mean_log_prob
    (NCIS rows), and for aligned rows ``auc_diff``, ``ncis_diff``, ``ncis_minus_ctr_control``,
    ``ncis_minus_logp_control`` each with ``_lower``/``_upper``/``_se``/``_significant``, the
    controls' own NCIS (``ncis_ctr_control``, ``ncis_logp_control``), the validation AUCs of the
    choice, and seconds (fit and scoring).
    """
    from offline_rl.evaluation.trajectory_ncis import ncis_minus_untrained

    labels = data.auc_rows[data.label].to_numpy()
    bootstrap = dict(n_replicates=cfg.n_replicates, confidence=cfg.confidence, seed=seed)
    rows = []
    fits = len(cfg.backbones) * (1 + len(ALIGNED_ROWS))
    bar = tqdm(total=fits, desc="CTR models", disable=not progress, leave=False)
    try:
        for backbone in cfg.backbones:
            started = time.perf_counter()
            base = _Scores(_fit(cfg, seed, data, backbone, None, None), data)
            bar.update()
            base_ncis = ncis_minus_untrained(data.ncis_trajectories, base.ncis,
                                             base.ncis_untrained)
            rows.append({
                "model": DISPLAY.get(backbone, backbone), "backbone": backbone,
                "reward_model": "none", "kappa": 0.0, "standardize_rewards": None,
                "auc": roc_auc(labels, base.auc), "ncis": base_ncis.value,
                "ncis_ess": base_ncis.ess, "mean_prob": float(base.ncis.mean()),
                "mean_log_prob": float(np.log(base.ncis).mean()),
                "seconds": time.perf_counter() - started,
            })
            logger.info("%s: AUC %.4f NCIS %.4f", rows[-1]["model"], rows[-1]["auc"],
                        rows[-1]["ncis"])
            for reward_name, suffix in ALIGNED_ROWS:
                started = time.perf_counter()
                choice = (choices or {}).get((backbone, reward_name),
                                             AlignmentChoice(cfg.kappa, True))
                aligned = _Scores(_fit(cfg, seed, data, backbone, choice, rewards[reward_name]),
                                  data)
                bar.update()
                auc = paired_auc_difference(labels, base.auc, aligned.auc, data.auc_clusters,
                                            **bootstrap)
                paired = dict(base_reference=base.ncis_untrained,
                              other_reference=aligned.ncis_untrained, **bootstrap)
                ncis = paired_ncis_difference(data.ncis_trajectories, data.ncis_clusters,
                                              base.ncis, aligned.ncis, **paired)
                ctr_control = np.clip(shift_to_mean(base.ncis, float(aligned.ncis.mean())),
                                      NCIS_FLOOR, 1.0)
                logp_control = np.clip(shift_to_mean_log(base.ncis,
                                                         float(np.log(aligned.ncis).mean()),
                                                         floor=NCIS_FLOOR), NCIS_FLOOR, 1.0)
                versus_ctr = paired_ncis_difference(data.ncis_trajectories, data.ncis_clusters,
                                                    ctr_control, aligned.ncis, **paired)
                versus_logp = paired_ncis_difference(data.ncis_trajectories,
                                                     data.ncis_clusters, logp_control,
                                                     aligned.ncis, **paired)
                aligned_ncis = ncis_minus_untrained(data.ncis_trajectories, aligned.ncis,
                                                    aligned.ncis_untrained)
                row = {
                    "model": DISPLAY.get(backbone, backbone) + suffix, "backbone": backbone,
                    "reward_model": reward_name, "kappa": choice.kappa,
                    "standardize_rewards": choice.standardize_rewards,
                    "auc": auc.other, "ncis": ncis.other, "ncis_ess": aligned_ncis.ess,
                    "mean_prob": float(aligned.ncis.mean()),
                    "mean_log_prob": float(np.log(aligned.ncis).mean()),
                    **_interval_columns("auc_diff", auc),
                    **_interval_columns("ncis_diff", ncis),
                    "ncis_ctr_control": versus_ctr.base,
                    **_interval_columns("ncis_minus_ctr_control", versus_ctr),
                    "ncis_logp_control": versus_logp.base,
                    **_interval_columns("ncis_minus_logp_control", versus_logp),
                    "validation_auc": choice.validation_auc,
                    "validation_base_auc": choice.validation_base_auc,
                    "seconds": time.perf_counter() - started,
                }
                rows.append(row)
                logger.info("%s: AUC %.4f (%+.4f [%+.4f, %+.4f]) NCIS %.4f (%+.4f; vs CTR "
                            "control %+.4f, vs log-p control %+.4f)", row["model"], row["auc"],
                            auc.difference, auc.lower, auc.upper, row["ncis"],
                            ncis.difference, versus_ctr.difference, versus_logp.difference)
    finally:
        bar.close()
    return pl.DataFrame(rows, infer_schema_length=None)


def choose_alignment(
    cfg, seed: int, selection: AlignmentData, *, progress: bool = False,
) -> tuple[dict[tuple[str, str], AlignmentChoice], pl.DataFrame]:
    """kappa and standardisation per (backbone, reward model), by validation AUC.

    ``selection`` holds the *training users only*: reward models are fitted on its
    ``reward_train`` (the users left after carving the validation users), CTR models on its
    ``ctr_train`` with every ``kappa`` in ``cfg.kappa_grid`` and standardisation on and off,
    and each is scored by AUC on ``selection.auc_rows`` (the validation users). The highest
    validation AUC wins (ties: the smaller kappa, then standardised). Returns the choices and
    the grid (one row per backbone, reward model, kappa, standardisation).
    """
    models = fit_reward_models(cfg, selection.reward_train, seed, gamma=cfg.gamma,
                               item_categories=selection.item_categories)
    rewards = mental_rewards(models, selection.reward_train)
    labels = selection.auc_rows[selection.label].to_numpy()
    grid = [(kappa, standardize) for kappa in sorted(cfg.kappa_grid)
            for standardize in (True, False)]
    total = len(cfg.backbones) * (1 + len(ALIGNED_ROWS) * len(grid))
    bar = tqdm(total=total, desc="validation", disable=not progress, leave=False)
    rows, choices = [], {}
    try:
        for backbone in cfg.backbones:
            base = _fit(cfg, seed, selection, backbone, None, None)
            base_auc = roc_auc(labels, base.predict_proba(selection.auc_rows))
            bar.update()
            for reward_name, _ in ALIGNED_ROWS:
                best: AlignmentChoice | None = None
                for kappa, standardize in grid:
                    model = _fit(cfg, seed, selection, backbone,
                                 AlignmentChoice(kappa, standardize), rewards[reward_name])
                    auc = roc_auc(labels, model.predict_proba(selection.auc_rows))
                    bar.update()
                    rows.append({"backbone": backbone, "reward_model": reward_name,
                                 "kappa": kappa, "standardize_rewards": standardize,
                                 "validation_auc": auc, "validation_base_auc": base_auc})
                    if best is None or auc > best.validation_auc:
                        best = AlignmentChoice(kappa, standardize, auc, base_auc)
                choices[(backbone, reward_name)] = best
                logger.info("validation %s/%s: kappa %.3g, standardised %s, AUC %.4f (base %.4f)",
                            backbone, reward_name, best.kappa, best.standardize_rewards,
                            best.validation_auc, base_auc)
    finally:
        bar.close()
    return choices, pl.DataFrame(rows)


# ------------------------------------------------------------------------------ reporting
def _cell(value: float, lower: float, upper: float, mark: str, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return (f"{value:+.{digits}f} [{lower:+.{digits}f}, {upper:+.{digits}f}]"
            f"{MARKS.get(mark or '', '')}")


def table_markdown(table: pl.DataFrame) -> str:
    """The table for people: AUC, NCIS and the three paired differences with their intervals.

    ▲ / ▼: the paired interval lies above / below 0.
    """
    header = ["model", "kappa", "AUC", "dAUC [95% CI]", "NCIS", "dNCIS [95% CI]",
              "NCIS - CTR control [95% CI]", "NCIS - log-p control [95% CI]"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in table.iter_rows(named=True):
        aligned = row["reward_model"] != "none"
        kappa = (f"{row['kappa']:g}" + ("" if row["standardize_rewards"] else " (raw r*)")
                 if aligned else "")
        cells = [row["model"], kappa, f"{row['auc']:.4f}",
                 _cell(row.get("auc_diff"), row.get("auc_diff_lower"), row.get("auc_diff_upper"),
                       row.get("auc_diff_significant")) if aligned else "",
                 f"{row['ncis']:.4f}"]
        for prefix in ("ncis_diff", "ncis_minus_ctr_control", "ncis_minus_logp_control"):
            cells.append(_cell(row.get(prefix), row.get(f"{prefix}_lower"),
                               row.get(f"{prefix}_upper"), row.get(f"{prefix}_significant"))
                         if aligned else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: The paired differences summarised over seeds.
DIFFERENCES = ("auc_diff", "ncis_diff", "ncis_minus_ctr_control", "ncis_minus_logp_control")


def summarise_seeds(tables: dict[int, pl.DataFrame]) -> pl.DataFrame:
    """Per aligned model over seeds: min / median / max of each paired difference and the
    number of seeds whose interval lies above (``_higher``) or below (``_lower``) 0."""
    frames = [t.with_columns(pl.lit(seed).alias("seed")) for seed, t in sorted(tables.items())]
    stacked = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("reward_model") != "none")
    aggregations = [pl.len().alias("seeds")]
    for name in ("auc", *DIFFERENCES):
        aggregations += [pl.col(name).min().alias(f"{name}_min"),
                         pl.col(name).median().alias(f"{name}_median"),
                         pl.col(name).max().alias(f"{name}_max")]
    for name in DIFFERENCES:
        aggregations += [
            (pl.col(f"{name}_significant") == "higher").sum().alias(f"{name}_higher"),
            (pl.col(f"{name}_significant") == "lower").sum().alias(f"{name}_lower")]
    order = {m: i for i, m in enumerate(stacked["model"].unique(maintain_order=True))}
    return (stacked.group_by("model", maintain_order=True).agg(aggregations)
            .sort(pl.col("model").replace_strict(order, return_dtype=pl.Int64)))


def seeds_markdown(summary: pl.DataFrame) -> str:
    """min / median / max per aligned model and the seeds significantly higher / lower."""
    header = ["model", "seeds", "dAUC min / median / max (higher/lower)",
              "dNCIS", "NCIS - CTR control", "NCIS - log-p control"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in summary.iter_rows(named=True):
        cells = [row["model"], str(row["seeds"])]
        for name in DIFFERENCES:
            cells.append(f"{row[f'{name}_min']:+.4f} / {row[f'{name}_median']:+.4f} / "
                         f"{row[f'{name}_max']:+.4f} ({row[f'{name}_higher']}/"
                         f"{row[f'{name}_lower']})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

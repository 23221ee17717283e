"""Reports people read: ``report.json``, ``lift.parquet``, ``report.html`` and a terminal table.

* ``report.json``: machine-readable, versioned (``schema_version``), NaN written as null.
* ``lift.parquet``: one row per policy x metric x estimator, ``lower, point, upper``.
* ``report.html``: one self-contained page (PNG plots embedded as base64, no script, no
  network), written for someone paged at 2 a.m.: the decision and its reasons first (when a
  nightly run made one), then the lift forest plot per metric, per-segment bars (unreliable
  intervals marked in both), and, from a fitted run (:class:`ReportSections`), what each
  feedback signal decodes to, the extreme-event rate by segment, the IK model's held-out
  likelihood against the no-signal level and QR-IQL's mental reward by step; then weight
  diagnostics of both sides of every lift and, where given, learning curves.
* :func:`format_table`: the compact table the CLI prints.

Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from offline_rl import __version__
from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text
from offline_rl.evaluation.evaluate import REPORT_SCHEMA_VERSION, EvaluationResult
from offline_rl.evaluation.lift import format_lift
from offline_rl.evaluation.reliability import MIN_EFFECTIVE_POSITIVES


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Whether a run's policy replaces the serving one, and the sentences that decided it."""

    decision: str
    """``promoted`` or ``held_back``."""

    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ReportSections:
    """What a fitted run adds to the evaluation report (every part optional).

    Attributes
    ----------
    decision
        The promotion decision, shown as the banner that opens the page.
    split
        One line saying which events were evaluated (held out from every fit).
    decoded_by_signal
        ``sql/analysis/decoded_reward_by_signal.sql``'s columns: ``feedback``, ``events``,
        ``positive_share``, ``zero_share``, ``negative_share`` (of decoded rewards > 0, = 0,
        < 0), ``mean_decoded_reward``, ``mean_k_p_hat``.
    extreme_rate_by_segment
        ``sql/analysis/extreme_rate_by_segment.sql``'s columns: ``segment``, ``feedback``,
        ``events``, ``extreme_events``, ``extreme_rate``, ``mean_k_p_hat``.
    signal_checks
        The IK model's held-out checks: mappings with ``where``, ``held_out_nll``,
        ``no_signal_nll`` and ``found_signal`` (None values: the check was not made).
    mental_reward_by_step
        QR-IQL's mean mental reward by session step: ``step``, ``response``, ``events``,
        ``mean_mental_reward``.
    """

    decision: Decision | None = None
    split: str | None = None
    decoded_by_signal: pl.DataFrame | None = None
    extreme_rate_by_segment: pl.DataFrame | None = None
    signal_checks: tuple[Mapping[str, Any], ...] = ()
    mental_reward_by_step: pl.DataFrame | None = None


def write_report(
    result: EvaluationResult,
    out_dir: str | os.PathLike[str],
    *,
    sections: ReportSections | None = None,
) -> dict[str, Path]:
    """Write ``report.json``, ``lift.parquet`` and ``report.html`` into ``out_dir`` atomically.

    ``sections`` adds a fitted run's decision and diagnostics (:class:`ReportSections`) to
    the page and, under the key ``run``, to ``report.json``.

    Returns
    -------
    dict
        ``{"json": path, "lift": path, "html": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "lift": out / "lift.parquet", "html": out / "report.html"}
    atomic_write_text(
        paths["json"], json.dumps(report_dict(result, sections), indent=2, allow_nan=False) + "\n"
    )
    atomic_write_parquet(result.lift(), paths["lift"])
    atomic_write_text(paths["html"], render_html(result, sections))
    return paths


def _clean(value):
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def report_dict(result: EvaluationResult, sections: ReportSections | None = None) -> dict:
    """The content of ``report.json`` (with ``run``: the :class:`ReportSections`, if given)."""
    weights = {}
    for policy, (counts, edges) in result.weight_histograms.items():
        rows = result.estimates.filter(pl.col("policy") == policy, pl.col("quantity") == "value")
        weights[policy] = {
            "by_estimator": {
                row["estimator"]: {"ess": row["ess"], "max_weight": row["max_weight"]}
                for row in rows.unique("estimator", keep="first", maintain_order=True).iter_rows(
                    named=True
                )
            },
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        }
    return _clean(
        {
            "schema_version": REPORT_SCHEMA_VERSION,
            "kind": "offline_rl.evaluation",
            "library_version": __version__,
            "config": result.config.to_dict(),
            "data": {
                "n_events": result.n_events,
                "n_users": result.n_users,
                "metrics": list(result.metrics),
                "policies": list(result.policies),
            },
            "resampling": resampling_dict(result),
            "reliability_rule": RELIABILITY_RULE,
            "lift_definition": lift_definition(result.config),
            "estimates": result.estimates.to_dicts(),
            "lift": result.lift().to_dicts(),
            "segments": None if result.segments is None else result.segments.to_dicts(),
            "weights": weights,
            "elapsed_seconds": result.elapsed_seconds,
            **({"run": _sections_dict(sections)} if sections is not None else {}),
        }
    )


def _sections_dict(sections: ReportSections) -> dict:
    def frame(value: pl.DataFrame | None):
        return None if value is None else value.to_dicts()

    decision = sections.decision
    return {
        "decision": None if decision is None else {"decision": decision.decision, "reasons": list(decision.reasons)},
        "split": sections.split,
        "decoded_by_signal": frame(sections.decoded_by_signal),
        "extreme_rate_by_segment": frame(sections.extreme_rate_by_segment),
        "signal_checks": [dict(check) for check in sections.signal_checks],
        "mental_reward_by_step": frame(sections.mental_reward_by_step),
    }


#: The rule behind the ``reliable`` column, written into every report.
RELIABILITY_RULE = (
    f"An interval is reliable when it is defined, no bootstrap replicate was dropped, and every "
    f"estimate it uses has at least {MIN_EFFECTIVE_POSITIVES:g} effective positives: the smaller "
    "of the Kish effective count of w*r over the resampling units and ESS(w)*value over events "
    "(docs/evaluation.md, 'When an interval is unreliable'). Below that, nominal 95% intervals "
    "covered as little as 0.16 in simulation."
)


def resampling_dict(result: EvaluationResult) -> dict:
    """What the bootstrap resampled: the requested and the resolved unit, and how many."""
    return {
        "requested": result.config.resample,
        "unit": result.resample_unit,
        "n_units": result.n_units,
        "blocks": result.config.max_units
        if result.config.max_units and (result.n_units or 0) > result.config.max_units
        else None,
    }


def lift_definition(config) -> str:
    """What the lift columns mean under ``config`` (written into every report)."""
    if config.baseline is None:
        return "Lift = V(candidate) / V(logged) - 1, with V(logged) the on-policy mean of the logs"
    return (
        f"Lift = V(candidate) / V({config.baseline}) - 1, both estimated off-policy from the "
        "logs with the same estimator and bootstrap resample"
    )


def format_table(result: EvaluationResult, *, estimator: str | None = None) -> str:
    """Compact text table of the primary estimator: value and lift with its interval per metric."""
    estimator = estimator or result.config.primary_estimator
    lift = result.lift().filter(pl.col("estimator") == estimator)
    header = (
        "policy",
        "metric",
        result.config.baseline or "logged",
        estimator,
        f"lift [{int(round(100 * result.config.confidence))}% CI]",
        "reliable",
        "ESS",
        "max w",
    )
    rows = [header]
    for row in lift.iter_rows(named=True):
        rows.append(
            (
                row["policy"],
                row["metric"],
                _num(row["baseline_value"]),
                _num(row["candidate_value"]),
                format_lift(
                    *(np.nan if row[k] is None else row[k] for k in ("lower", "point", "upper"))
                ),
                "yes" if row["reliable"] else "NO",
                f"{row['ess']:.0f}",
                f"{row['max_weight']:.3g}",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    interval = result.config.interval
    footer = f"{result.n_events} events, {interval} intervals"
    if interval != "delta":
        footer += f" from {result.config.n_replicates} bootstrap replicates"
    footer += f" ({result.n_units} {result.resample_unit} resampled)"
    notes = [
        f"NO: {row['policy']}/{row['metric']}: {row['reliability_reason']}"
        for row in lift.iter_rows(named=True)
        if not row["reliable"]
    ]
    return "\n".join([*lines, footer, *notes])


def _num(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


# ---------------------------------------------------------------- plots


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def forest_plot(result: EvaluationResult, estimator: str) -> str:
    """Base64 PNG: lift point and interval per metric and policy."""
    plt = _pyplot()
    lift = result.lift().filter(pl.col("estimator") == estimator)
    labels = [f"{r['metric']} · {r['policy']}" for r in lift.iter_rows(named=True)]
    figure, axis = plt.subplots(figsize=(7, 0.45 * max(len(labels), 2) + 1.2))
    y = np.arange(len(labels))[::-1]
    points = (
        np.array([np.nan if v is None else v for v in lift["point"].to_list()], dtype=float) * 100
    )
    lower = (
        np.array([np.nan if v is None else v for v in lift["lower"].to_list()], dtype=float) * 100
    )
    upper = (
        np.array([np.nan if v is None else v for v in lift["upper"].to_list()], dtype=float) * 100
    )
    reliable = lift["reliable"].to_list()
    labels = [
        label if ok else f"{label} (UNRELIABLE)" for label, ok in zip(labels, reliable, strict=True)
    ]
    # blue where the interval excludes 0; no good/bad colouring (more dislikes is a rise too);
    # an unreliable row is drawn dashed and hollow in orange, whatever its interval
    colors = [
        "tab:orange" if not ok else "tab:blue" if (lo > 0 or hi < 0) else "tab:gray"
        for lo, hi, ok in zip(lower, upper, reliable, strict=True)
    ]
    for yi, p, lo, hi, c, ok in zip(y, points, lower, upper, colors, reliable, strict=True):
        axis.plot([lo, hi], [yi, yi], color=c, linewidth=2, linestyle="-" if ok else "--")
        axis.plot([p], [yi], "o", color=c, markerfacecolor=c if ok else "white")
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_yticks(y, labels)
    axis.set_xlabel(
        f"relative lift over {result.config.baseline or 'the logged policy'} (%), {estimator}, {int(round(100 * result.config.confidence))}% interval"
    )
    axis.grid(axis="x", alpha=0.3)
    return _figure_png(figure)


def segment_plot(result: EvaluationResult, estimator: str) -> str | None:
    """Base64 PNG: per-segment lift bars with intervals, one panel per metric.

    A bar whose interval is flagged unreliable is hatched with an orange edge and labelled
    "unreliable" (as in the forest plot: its interval should not be read at face value).
    """
    if result.segments is None:
        return None
    plt = _pyplot()
    frame = result.segments.filter(pl.col("quantity") == "lift", pl.col("estimator") == estimator)
    metrics = list(dict.fromkeys(frame["metric"].to_list()))
    policies = list(dict.fromkeys(frame["policy"].to_list()))
    segments = sorted(set(frame["segment"].to_list()), key=_natural)
    figure, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(4.5 * len(metrics), 0.35 * len(segments) * len(policies) + 1.5),
        squeeze=False,
    )
    height = 0.8 / max(len(policies), 1)
    any_unreliable = False
    for axis, metric in zip(axes[0], metrics, strict=True):
        for j, policy in enumerate(policies):
            part = frame.filter(pl.col("metric") == metric, pl.col("policy") == policy)
            lookup = {r["segment"]: r for r in part.iter_rows(named=True)}
            y = np.arange(len(segments)) + j * height
            point = np.array([_nan(lookup.get(s, {}).get("point")) for s in segments]) * 100
            low = np.array([_nan(lookup.get(s, {}).get("lower")) for s in segments]) * 100
            high = np.array([_nan(lookup.get(s, {}).get("upper")) for s in segments]) * 100
            unreliable = np.array([not lookup.get(s, {}).get("reliable", True) for s in segments])
            any_unreliable |= bool(unreliable.any())
            axis.barh(y, point, height=height, label=policy, alpha=0.8)
            if unreliable.any():
                axis.barh(y[unreliable], point[unreliable], height=height, fill=False,
                          hatch="///", edgecolor="tab:orange", linewidth=1.5)
                for yi, pi in zip(y[unreliable], point[unreliable], strict=True):
                    axis.annotate("unreliable", (0 if not np.isfinite(pi) else pi, yi), fontsize=7,
                                  color="tab:orange", xytext=(3, -3), textcoords="offset points")
            axis.errorbar(
                point, y, xerr=[point - low, high - point], fmt="none", ecolor="black", capsize=2
            )
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_yticks(np.arange(len(segments)) + 0.4 - height / 2, segments)
        axis.set_ylim(-0.6, len(segments) - 0.2)
        axis.set_title(metric)
        axis.set_xlabel("lift (%)")
    if len(policies) > 1:
        axes[0][0].legend(fontsize=8)
    if any_unreliable:
        figure.suptitle("hatched orange: interval flagged unreliable", fontsize=8, color="tab:orange")
    figure.tight_layout()
    return _figure_png(figure)


def decoded_signal_plot(by_signal: pl.DataFrame) -> str:
    """Base64 PNG: share of decoded rewards +1 / 0 / -1 per feedback signal (stacked bars)."""
    plt = _pyplot()
    signals = by_signal["feedback"].to_list()
    figure, axis = plt.subplots(figsize=(7, 0.4 * max(len(signals), 2) + 1.2))
    y = np.arange(len(signals))[::-1]
    left = np.zeros(len(signals))
    for column, label, color in (("positive_share", "decoded > 0 (+1)", "tab:green"),
                                 ("zero_share", "decoded 0", "lightgray"),
                                 ("negative_share", "decoded < 0 (-1/alpha)", "tab:red")):
        share = np.array([_nan(v) for v in by_signal[column].to_list()]) * 100
        axis.barh(y, share, left=left, color=color, label=label)
        left += np.nan_to_num(share)
    counts = by_signal["events"].to_list()
    axis.set_yticks(y, [f"{name} ({count:,})" for name, count in zip(signals, counts, strict=True)])
    axis.set_xlim(0, 100)
    axis.set_xlabel("share of the signal's evaluation events (%)")
    axis.legend(fontsize=8, loc="lower right")
    return _figure_png(figure)


def extreme_rate_plot(extremes: pl.DataFrame) -> str:
    """Base64 PNG: extreme-event rate (K P_hat > threshold) per segment, one bar per signal."""
    plt = _pyplot()
    segments = sorted(set(extremes["segment"].to_list()), key=_natural)
    signals = list(dict.fromkeys(extremes["feedback"].to_list()))
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(segments) * max(len(signals), 1) + 1.5))
    height = 0.8 / max(len(signals), 1)
    lookup = {(r["segment"], r["feedback"]): r for r in extremes.iter_rows(named=True)}
    for j, signal in enumerate(signals):
        y = np.arange(len(segments)) + j * height
        rate = np.array([_nan(lookup.get((s, signal), {}).get("extreme_rate")) for s in segments]) * 100
        axis.barh(y, rate, height=height, label=signal)
    axis.set_yticks(np.arange(len(segments)) + 0.4 - height / 2, segments)
    axis.set_xlabel("extreme-event rate (%): decoded as a latent reward, by segment")
    axis.legend(fontsize=8)
    return _figure_png(figure)


def signal_check_plot(checks: tuple[Mapping[str, Any], ...]) -> str | None:
    """Base64 PNG: the IK model's held-out weighted NLL beside the no-signal level, per check."""
    made = [c for c in checks if c.get("held_out_nll") is not None and c.get("no_signal_nll") is not None]
    if not made:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 0.7 * len(made) + 1.2))
    y = np.arange(len(made))[::-1]
    nll = np.array([c["held_out_nll"] for c in made], dtype=float)
    level = np.array([c["no_signal_nll"] for c in made], dtype=float)
    colors = ["tab:green" if c.get("found_signal") else "tab:red" for c in made]
    axis.barh(y + 0.2, nll, height=0.4, color=colors, label="IK model, held out")
    axis.barh(y - 0.2, level, height=0.4, color="lightgray", label="no signal (mean log K)")
    axis.set_yticks(y, [str(c["where"]) for c in made])
    axis.set_xlabel("importance-weighted NLL of the logged action (lower is better)")
    axis.legend(fontsize=8, loc="lower right")
    return _figure_png(figure)


def mental_reward_plot(by_step: pl.DataFrame) -> str | None:
    """Base64 PNG: QR-IQL's mean mental reward by session step, per user response."""
    if by_step.height == 0:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.2))
    for response, label in ((1, "positive response"), (0, "negative response")):
        part = by_step.filter(pl.col("response") == response).sort("step")
        if part.height:
            axis.plot(part["step"].to_numpy(), part["mean_mental_reward"].to_numpy(), marker="o",
                      markersize=3, label=label)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xlabel("step within the session")
    axis.set_ylabel("mean mental reward r*(s, a)")
    axis.legend(fontsize=8)
    return _figure_png(figure)


def _natural(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _nan(value) -> float:
    return float("nan") if value is None else float(value)


def weight_plot(result: EvaluationResult) -> str:
    """Base64 PNG: histogram of importance weights per policy (log-spaced bins)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.2))
    for policy, (counts, edges) in result.weight_histograms.items():
        centres = np.sqrt(np.maximum(edges[:-1], edges[1] * 1e-3) * edges[1:])
        axis.step(centres, counts, where="mid", label=policy)
    top = max((counts.max() for counts, _ in result.weight_histograms.values()), default=1)
    axis.set_xscale("log")
    axis.set_yscale("symlog", linthresh=1)
    axis.set_ylim(0, top * 2)
    axis.axvline(1.0, color="black", linewidth=0.8)
    axis.axvline(
        result.config.weight_cap, color="tab:red", linewidth=0.8, linestyle="--", label="cap"
    )
    axis.set_xlabel("importance weight π(a|x) / p (log scale)")
    axis.set_ylabel("events")
    axis.legend(fontsize=8)
    return _figure_png(figure)


def learning_curve_plot(curves: dict[str, pl.DataFrame]) -> str | None:
    """Base64 PNG: each numeric column against the first column of each curve frame."""
    if not curves:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.2), squeeze=False)
    for axis, (name, frame) in zip(axes[0], curves.items(), strict=True):
        x = frame.columns[0]
        for column in frame.columns[1:]:
            if frame[column].dtype.is_numeric():
                axis.plot(frame[x].to_numpy(), frame[column].to_numpy(), label=column)
        axis.set_title(name)
        axis.set_xlabel(x)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return _figure_png(figure)


# ---------------------------------------------------------------- html

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
.up{color:#1a7f37}.down{color:#cf222e}.note{color:#555;font-size:13px}
tr.unreliable td{background:#fff4e5}.flag{color:#9a6700;font-weight:bold;text-align:left}
img{max-width:100%}
.banner{border-radius:6px;padding:0.8em 1.2em;margin:1em 0 1.5em;border:2px solid}
.banner h2{margin:0 0 0.3em}.banner ul{margin:0.3em 0 0 1.2em;padding:0}
.banner.promoted{background:#e6f4ea;border-color:#1a7f37}.banner.held_back{background:#fdecea;border-color:#cf222e}
"""

#: The banner's headline per decision.
_HEADLINES = {
    "promoted": "PROMOTED: this run's policy replaces the serving one (runs/current points here)",
    "held_back": "HELD BACK: the serving policy stays (runs/current keeps the last promoted run)",
}


def _table(frame: pl.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in frame.select(columns).iter_rows():
        cells = []
        for value in row:
            if isinstance(value, float):
                text = "n/a" if not math.isfinite(value) else f"{value:.4g}"
            else:
                text = "n/a" if value is None else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(data: str | None, alt: str) -> str:
    return (
        "" if data is None else f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    )


def _banner(decision: Decision) -> str:
    headline = _HEADLINES.get(decision.decision, decision.decision)
    items = "".join(f"<li>{html.escape(reason)}</li>" for reason in decision.reasons)
    why = "Why" if decision.decision == "promoted" else "Held back because"
    return (
        f"<div id='decision' class='banner {html.escape(decision.decision)}'>"
        f"<h2>{html.escape(headline)}</h2><p><b>{why}:</b></p><ul>{items}</ul></div>"
    )


def _segment_notes(result: EvaluationResult, estimator: str) -> str:
    if result.segments is None:
        return ""
    flagged = result.segments.filter(
        pl.col("quantity") == "lift", pl.col("estimator") == estimator, ~pl.col("reliable")
    )
    if flagged.height == 0:
        return "<p class='note'>Every segment's interval is reliable.</p>"
    items = "".join(
        f"<li>{html.escape(r['segment'])} · {html.escape(r['metric'])} · {html.escape(r['policy'])}: "
        f"{html.escape(r['reliability_reason'] or '')}</li>"
        for r in flagged.iter_rows(named=True)
    )
    return f"<p class='note'>&#9888; Unreliable segment intervals (hatched orange above):</p><ul class='note'>{items}</ul>"


def _weight_table(result: EvaluationResult) -> str:
    """ESS and largest weight of both sides of every lift: the candidate and its denominator."""
    base = result.config.baseline or "logged"
    rows = (
        result.lift()
        .unique(["policy", "estimator"], keep="first", maintain_order=True)
        .select(
            "policy", "estimator",
            pl.col("ess").alias("ESS"), pl.col("max_weight").alias("max weight"),
            pl.col("baseline_ess").alias(f"{base} ESS"),
            pl.col("baseline_max_weight").alias(f"{base} max weight"),
            "n",
        )
    )
    return _table(rows, rows.columns)


def _run_sections(sections: ReportSections) -> list[str]:
    parts: list[str] = []
    if sections.decoded_by_signal is not None and sections.decoded_by_signal.height:
        parts += [
            "<h2>What each feedback signal decodes to</h2>",
            "<p class='note'>IGL-P's decoded latent reward (Eq. 4) of the evaluation events, by the "
            "signal the user gave: +1 when the IK model reads the event as extreme (K·P&#770; above "
            "the threshold), &minus;1/&alpha; when it is extreme and a definitely-negative signal, 0 "
            "otherwise. A signal that decodes like every other carries nothing the model learned.</p>",
            _img(decoded_signal_plot(sections.decoded_by_signal), "decoded reward by signal"),
            _table(sections.decoded_by_signal, [c for c in (
                "feedback", "events", "positive_share", "zero_share", "negative_share",
                "mean_decoded_reward", "mean_k_p_hat") if c in sections.decoded_by_signal.columns]),
        ]
    if sections.extreme_rate_by_segment is not None and sections.extreme_rate_by_segment.height:
        parts += [
            "<h2>Extreme-event rate by segment</h2>",
            "<p class='note'>How often the decoder declares a latent reward, per user segment and "
            "signal: groups that use a signal alike should be read alike.</p>",
            _img(extreme_rate_plot(sections.extreme_rate_by_segment), "extreme-event rate by segment"),
            _table(sections.extreme_rate_by_segment, [c for c in (
                "segment", "feedback", "events", "extreme_events", "extreme_rate", "mean_k_p_hat")
                if c in sections.extreme_rate_by_segment.columns]),
        ]
    if sections.signal_checks:
        checks = pl.DataFrame(
            [dict(check) for check in sections.signal_checks],
            schema={"where": pl.String, "held_out_nll": pl.Float64, "no_signal_nll": pl.Float64,
                    "found_signal": pl.Boolean},
        )
        parts += [
            "<h2>Did the IK model find signal?</h2>",
            "<p class='note'>Importance-weighted negative log-likelihood of the logged action on rows "
            "the IK model never trained on, against the no-signal level (the weighted mean of log K, "
            "what P(a|x,y) = 1/K scores). Only clearly below that level do the decoded rewards mean "
            "anything. An empty row: that check was not made.</p>",
            _img(signal_check_plot(sections.signal_checks), "IK held-out NLL against no signal"),
            _table(checks, checks.columns),
        ]
    if sections.mental_reward_by_step is not None:
        plot = mental_reward_plot(sections.mental_reward_by_step)
        if plot:
            parts += [
                "<h2>QR-IQL mental reward by step</h2>",
                "<p class='note'>Mean inferred mental reward r*(s, a) of the evaluation events by their "
                "step within the session, for positive and negative user responses.</p>",
                _img(plot, "mental reward by step"),
            ]
    return parts


def render_html(result: EvaluationResult, sections: ReportSections | None = None) -> str:
    """The self-contained ``report.html`` page (see the module docstring for its order)."""
    sections = sections or ReportSections()
    config = result.config
    estimator = config.primary_estimator
    level = int(round(100 * config.confidence))
    lift = result.lift()
    primary = lift.filter(pl.col("estimator") == estimator)
    summary_rows = []
    for row in primary.iter_rows(named=True):
        values = [np.nan if row[k] is None else row[k] for k in ("lower", "point", "upper")]
        css = "up" if values[0] > 0 else "down" if values[2] < 0 else ""  # interval excludes 0
        if row["reliable"]:
            flag, row_class = "reliable", ""
        else:
            flag = "&#9888; UNRELIABLE: " + html.escape(row["reliability_reason"] or "")
            row_class, css = " class='unreliable'", ""
        summary_rows.append(
            f"<tr{row_class}><td>{html.escape(row['policy'])}</td><td>{html.escape(row['metric'])}</td>"
            f"<td>{_num(row['baseline_value'])}</td><td>{_num(row['candidate_value'])}</td>"
            f"<td class='{css}'>{html.escape(format_lift(*values))}</td><td class='flag'>{flag}</td>"
            f"<td>{_num(row['effective_positives'])}</td>"
            f"<td>{row['ess']:.0f}</td><td>{row['max_weight']:.3g}</td>"
            f"<td>{_num(row['baseline_ess'])}</td><td>{_num(row['baseline_max_weight'])}</td></tr>"
        )
    base = html.escape(config.baseline or "logged")
    summary = (
        f"<table><thead><tr><th>policy</th><th>metric</th><th>{base} value</th>"
        f"<th>{html.escape(estimator)} value</th><th>lift [{level}% CI]</th><th>interval</th>"
        f"<th>effective positives</th><th>ESS</th><th>max weight</th><th>{base} ESS</th>"
        f"<th>{base} max weight</th></tr></thead>"
        f"<tbody>{''.join(summary_rows)}</tbody></table>"
        f"<p class='note'>{html.escape(RELIABILITY_RULE)}</p>"
    )
    interval_text = {
        "percentile": f"bootstrap percentile intervals from {config.n_replicates} replicates",
        "bca": f"bootstrap BCa intervals from {config.n_replicates} replicates",
        "delta": "delta-method normal intervals",
    }[config.interval]
    title = "Nightly run" if sections.decision is not None else "Off-policy evaluation"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>offline-rl {title.lower()} report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    if sections.decision is not None:
        parts.append(_banner(sections.decision))
    if sections.split:
        parts.append(f"<p class='note'><b>Held-out evaluation:</b> {html.escape(sections.split)}.</p>")
    parts += [
        f"<p class='note'>{result.n_events:,} logged events"
        + (f", {result.n_users:,} users" if result.n_users else "")
        + f"; policies: {html.escape(', '.join(result.policies))}; metrics: {html.escape(', '.join(result.metrics))}. "
        f"{html.escape(lift_definition(config))}. "
        f"{interval_text.capitalize()}, {level}% level, <b>resampling unit: {result.resample_unit}</b> "
        f"({result.n_units:,} {result.resample_unit}; requested: {html.escape(config.resample)})"
        + (
            f", summed into {config.max_units:,} random blocks"
            if config.max_units and result.n_units > config.max_units
            else ""
        )
        + f"; seed {config.seed}. offline-rl {__version__}.</p>",
        f"<h2>Lift ({html.escape(estimator)})</h2>",
        summary,
        _img(forest_plot(result, estimator), "lift forest plot"),
    ]
    segment_png = segment_plot(result, estimator)
    if segment_png:
        parts += [
            "<h2>Lift by segment</h2>",
            "<p class='note'>Per-group lift of the primary estimator, for fairness checks: a policy that helps on average can hurt a group.</p>",
            _img(segment_png, "per-segment lift"),
            _segment_notes(result, estimator),
        ]
    parts += _run_sections(sections)
    parts += [
        "<h2>Weight diagnostics</h2>",
        "<p class='note'>Effective sample size (Kish) and largest importance weight of both sides of "
        "every lift: the candidate policy and its denominator (the logged policy's own events have "
        "weight 1). An ESS far below the number of events, or a maximum weight near the cap, means "
        "a few events decide the estimate.</p>",
        _weight_table(result),
        _img(weight_plot(result), "importance weight histogram"),
    ]
    curve_png = learning_curve_plot(result.learning_curves)
    if curve_png:
        parts += ["<h2>Learning curves</h2>", _img(curve_png, "learning curves")]
    parts += [
        "<h2>All estimates</h2>",
        _table(
            result.estimates,
            [
                "policy",
                "metric",
                "estimator",
                "quantity",
                "point",
                "lower",
                "upper",
                "reliable",
                "effective_positives",
                "standard_error",
                "dropped_replicates",
                "delta_lower",
                "delta_upper",
                "ess",
                "max_weight",
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)

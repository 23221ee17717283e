"""Reports people read: ``report.json``, ``lift.parquet``, ``report.html`` and a terminal table.

* ``report.json``: machine-readable, versioned (``schema_version``), NaN written as null.
* ``lift.parquet``: one row per policy x metric x estimator, ``lower, point, upper``.
* ``report.html``: one self-contained page (PNG plots embedded as base64, no network): the
  lift forest plot, per-segment bars, weight diagnostics and, where given, learning curves.
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
from pathlib import Path

import numpy as np
import polars as pl

from offline_rl import __version__
from offline_rl.data.atomic import atomic_write_parquet, atomic_write_text
from offline_rl.evaluation.evaluate import REPORT_SCHEMA_VERSION, EvaluationResult
from offline_rl.evaluation.lift import format_lift
from offline_rl.evaluation.reliability import MIN_EFFECTIVE_POSITIVES


def write_report(result: EvaluationResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json``, ``lift.parquet`` and ``report.html`` into ``out_dir`` atomically.

    Returns
    -------
    dict
        ``{"json": path, "lift": path, "html": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "lift": out / "lift.parquet", "html": out / "report.html"}
    atomic_write_text(
        paths["json"], json.dumps(report_dict(result), indent=2, allow_nan=False) + "\n"
    )
    atomic_write_parquet(result.lift(), paths["lift"])
    atomic_write_text(paths["html"], render_html(result))
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


def report_dict(result: EvaluationResult) -> dict:
    """The content of ``report.json``."""
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
        }
    )


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
    """Base64 PNG: per-segment lift bars with intervals, one panel per metric."""
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
    for axis, metric in zip(axes[0], metrics, strict=True):
        for j, policy in enumerate(policies):
            part = frame.filter(pl.col("metric") == metric, pl.col("policy") == policy)
            lookup = {r["segment"]: r for r in part.iter_rows(named=True)}
            y = np.arange(len(segments)) + j * height
            point = np.array([_nan(lookup.get(s, {}).get("point")) for s in segments]) * 100
            low = np.array([_nan(lookup.get(s, {}).get("lower")) for s in segments]) * 100
            high = np.array([_nan(lookup.get(s, {}).get("upper")) for s in segments]) * 100
            axis.barh(y, point, height=height, label=policy, alpha=0.8)
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
    figure.tight_layout()
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
"""


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


def render_html(result: EvaluationResult) -> str:
    """The self-contained ``report.html`` page."""
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
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>offline-rl evaluation report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Off-policy evaluation</h1>",
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
        ]
    parts += [
        "<h2>Weight diagnostics</h2>",
        "<p class='note'>Effective sample size (Kish) and largest importance weight per estimator. "
        "An ESS far below the number of events, or a maximum weight near the cap, means a few events decide the estimate.</p>",
        _table(
            result.estimates.filter(
                pl.col("quantity") == "value", pl.col("policy") != "logged"
            ).unique(["policy", "estimator"], keep="first", maintain_order=True),
            ["policy", "estimator", "ess", "max_weight", "n"],
        ),
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

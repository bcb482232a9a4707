"""Plotly figures of the monitoring pages, each with the same numbers as a table (no Django imports).

The figures are drawn by ``static/js/charts.js`` from ``json_script`` data, like the dashboard's, and
reuse its ``Chart``/``Cell`` (text alternative) shapes. Names that come from users are escaped, because
Plotly renders a subset of HTML in text.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape

import plotly.graph_objects as go

from apps.inventory.charts import FONT, Cell, Chart
from apps.monitoring.thresholds import MAX_WARNING_SHARE

HEALTH_COLOURS = {"healthy": "#1a7f37", "warning": "#bf8700", "breach": "#a40e26"}
SERIES_COLOURS = ("#0969da", "#8250df", "#1f4e79", "#bf3989", "#57606a", "#116329")
CHAMPION, CHALLENGER = "#57606a", "#0969da"
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.2
DRIFT_BARS = 30
DRIFT_LABEL_ROW = 16  # pixels between the rows of the drift chart's reading-line labels

# Key metrics of the time series per task type: (metric key, label). "fairness.dp_worst",
# "drift.psi_worst" and "prediction_drift.psi_worst" are the largest value over attributes, features or outputs.
OUTPUT_PSI = ("prediction_drift.psi_worst", "Largest PSI of the model's outputs")
KEY_METRICS = {
    "binary": (("accuracy", "Accuracy"), ("roc_auc", "ROC AUC"), ("f1", "F1"),
               ("fairness.dp_worst", "Largest demographic parity difference"), ("drift.psi_worst", "Largest PSI"),
               OUTPUT_PSI),
    "multiclass": (("accuracy", "Accuracy"), ("f1_macro", "F1 (macro)"), ("drift.psi_worst", "Largest PSI"),
                   OUTPUT_PSI),
    "regression": (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"), ("drift.psi_worst", "Largest PSI"), OUTPUT_PSI),
}
# The policy rule that bounds each key metric.
RULES = {"fairness.dp_worst": "demographic_parity_difference_max", "drift.psi_worst": "psi_max",
         "prediction_drift.psi_worst": "psi_max"}


def _figure(fig: go.Figure) -> dict:
    return json.loads(fig.to_json())


def _layout(**extra) -> dict:
    layout = {"template": "none", "font": FONT, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
              "margin": {"l": 60, "r": 20, "t": 30, "b": 60}, "hoverlabel": {"font": {"family": FONT["family"]}}}
    layout.update(extra)
    return layout


def _text(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def key_metric(metrics: Mapping, key: str) -> float | None:
    """One key metric of a window's metrics (see ``KEY_METRICS``)."""
    if key == "fairness.dp_worst":
        values = [v.get("demographic_parity_difference") for v in (metrics.get("fairness") or {}).values()]
    elif key in ("drift.psi_worst", "prediction_drift.psi_worst"):
        values = [v.get("psi") for v in (metrics.get(key.split(".")[0]) or {}).values()]
    else:
        return (metrics.get("overall") or {}).get(key)
    values = [v for v in values if v is not None]
    return max(values) if values else None


def threshold_for(key: str, rules: Mapping) -> tuple[str, float] | None:
    """("minimum" | "maximum", limit) of the policy for a key metric, if it sets one."""
    rule = RULES.get(key)
    if rule:
        return ("maximum", float(rules[rule])) if rule in rules else None
    if f"{key}_min" in rules:
        return "minimum", float(rules[f"{key}_min"])
    if f"{key}_max" in rules:
        return "maximum", float(rules[f"{key}_max"])
    return None


def metric_series_chart(*, title: str, points: Iterable[tuple[str, str, float | None, str]],
                        threshold: tuple[str, float] | None, index: int) -> Chart:
    """One key metric over the metric windows: a line per version, markers coloured by the window's health.

    ``points`` holds (series label, window start as ISO date-time, value, health).
    """
    series: dict[str, list] = {}
    for name, start, value, health in points:
        if value is not None:
            series.setdefault(name, []).append((start, value, health))
    fig = go.Figure()
    for number, (name, rows) in enumerate(sorted(series.items())):
        fig.add_trace(go.Scatter(
            x=[r[0] for r in rows], y=[r[1] for r in rows], mode="lines+markers", name=escape(name),
            line={"color": SERIES_COLOURS[number % len(SERIES_COLOURS)], "width": 2},
            marker={"size": 9, "color": [HEALTH_COLOURS.get(r[2], "#57606a") for r in rows],
                    "line": {"color": "#ffffff", "width": 1}},
            text=[r[2] for r in rows],
            hovertemplate=f"{escape(name)}<br>%{{x|%Y-%m-%d}}: %{{y:.4f}}<br>health: %{{text}}<extra></extra>",
        ))
    if threshold:
        kind, limit = threshold
        fig.add_hline(y=limit, line={"color": HEALTH_COLOURS["breach"], "dash": "dash", "width": 1.5},
                      annotation_text=f"{kind} {limit:g}", annotation_position="top left",
                      annotation_font={"color": HEALTH_COLOURS["breach"]})
    fig.update_layout(**_layout(height=300, legend={"orientation": "h", "y": -0.25}, hovermode="closest",
                                xaxis={"type": "date", "title": {"text": "Window start"}},
                                yaxis={"title": {"text": escape(title)}, "rangemode": "tozero"}))
    rows = [(Cell(name), Cell(start[:10]), Cell(_text(value)), Cell(health))
            for name, items in sorted(series.items()) for start, value, health in items]
    summary = (f"Line chart of {title} per metric window, one line per version; marker colour shows the window's "
               "health" + (f"; the dashed line is the policy's {threshold[0]} {threshold[1]:g}." if threshold else "."))
    return Chart(f"figure-metric-{index}", title, summary, _figure(fig), ("Version", "Window start", title, "Health"),
                 rows, empty=f"No window has a value for {title} yet.")


def group_chart(attribute: str, groups: Mapping[str, Mapping], *, index: int) -> Chart:
    """Per-group bars of one sensitive attribute: rates (binary, with the selection rate's Wilson interval),
    accuracy (multiclass) or errors (regression)."""
    names = list(groups)
    binary = any("selection_rate" in values for values in groups.values())
    measures = (("selection_rate", "Selection rate"), ("true_positive_rate", "True positive rate"),
                ("false_positive_rate", "False positive rate")) if binary else tuple(
        (name, name.upper() if name in ("mae", "rmse") else name.replace("_", " ").capitalize())
        for name in ("accuracy", "mae", "rmse") if any(name in values for values in groups.values()))
    fig = go.Figure()
    for number, (measure, title) in enumerate(measures):
        values = [groups[g].get(measure) for g in names]
        error = None
        if measure == "selection_rate":
            intervals = [groups[g].get("selection_rate_ci") for g in names]
            error = {"type": "data", "symmetric": False, "color": "#1b1f24", "thickness": 1.2,
                     "array": [(ci[1] - v) if ci and v is not None else 0 for ci, v in zip(intervals, values,
                                                                                             strict=True)],
                     "arrayminus": [(v - ci[0]) if ci and v is not None else 0 for ci, v in zip(intervals, values,
                                                                                                  strict=True)]}
        fig.add_trace(go.Bar(name=title, x=[escape(g) for g in names], y=values, error_y=error,
                             marker_color=SERIES_COLOURS[number % len(SERIES_COLOURS)],
                             hovertemplate=f"%{{x}}<br>{title}: %{{y:.4f}}<extra></extra>"))
    fig.update_layout(**_layout(barmode="group", height=320, legend={"orientation": "h", "y": 1.12},
                                xaxis={"title": {"text": escape(attribute)}, "automargin": True},
                                yaxis={"rangemode": "tozero"}))
    rows = [(Cell(g), Cell(str(groups[g].get("count", ""))), *(Cell(_text(groups[g].get(m))) for m, _ in measures))
            for g in names]
    summary = (f"Grouped bar chart of {', '.join(t.lower() for _, t in measures)} per group of {attribute}"
               + ("; the error bars are the selection rate's 95% Wilson interval." if binary else "."))
    return Chart(f"figure-groups-{index}", f"By {attribute}", summary, _figure(fig),
                 ("Group", "Rows", *(t for _, t in measures)), rows if measures else [])


def drift_chart(drift: Mapping[str, Mapping], psi_max: float | None = None) -> Chart:
    """PSI per feature, largest first (at most 30 bars). Coloured and lined by the model's policy limit ``psi_max``
    (red above it, amber above its warning share), as the drift table and the alerts read it; without a limit, by
    the usual reading (0.1 moderate, 0.2 significant)."""
    ordered = sorted(((f, v.get("psi")) for f, v in drift.items() if v.get("psi") is not None),
                     key=lambda item: -item[1])
    shown = ordered[:DRIFT_BARS][::-1]  # horizontal bars draw bottom-up
    if psi_max is None:
        high, low = PSI_SIGNIFICANT, PSI_MODERATE
        lines = ((high, "0.2 significant"), (low, "0.1 moderate"))
        readings, red = ("significant", "moderate", "stable"), "bars above 0.2 are red"
    else:
        high, low = psi_max, psi_max * MAX_WARNING_SHARE
        lines = ((high, f"{high:g} policy limit"), (low, f"{low:g} warning"))
        readings = ("above the policy limit", "warning", "within the policy")
        red = f"bars above the policy's limit ({high:g}) are red, above {low:g} amber"
    fig = go.Figure(go.Bar(
        x=[psi for _, psi in shown], y=[escape(f) for f, _ in shown], orientation="h",
        marker_color=[HEALTH_COLOURS["breach"] if psi > high else HEALTH_COLOURS["warning"]
                      if psi > low else "#0969da" for _, psi in shown],
        hovertemplate="%{y}<br>PSI %{x:.4f}<extra></extra>"))
    # The two lines sit a few pixels apart once a feature drifts to PSI 2: each label starts at its line, on its own
    # row, so they never overlap whatever the axis range.
    for row, (limit, text) in enumerate(lines):
        fig.add_vline(x=limit, line={"color": "#57606a", "dash": "dot", "width": 1}, annotation_text=text,
                      annotation_position="top right", annotation_yshift=DRIFT_LABEL_ROW * (1 - row))
    fig.update_layout(**_layout(height=max(260, 80 + 24 * len(shown)), showlegend=False,
                                margin={"l": 160, "r": 20, "t": 40 + DRIFT_LABEL_ROW, "b": 50},
                                xaxis={"title": {"text": "PSI"}, "rangemode": "tozero"},
                                yaxis={"automargin": True}))
    rows = [(Cell(f), Cell(_text(psi)), Cell(readings[0] if psi > high else readings[1] if psi > low
                                              else readings[2])) for f, psi in ordered]
    more = f" (the {DRIFT_BARS} largest of {len(ordered)} are drawn)" if len(ordered) > DRIFT_BARS else ""
    return Chart("figure-drift", "Drift by feature",
                 f"Horizontal bar chart of the population stability index per feature{more}; {red}.",
                 _figure(fig), ("Feature", "PSI", "Reading"), rows,
                 empty="No drift was computed: upload reference data for this version.")


def importance_chart(importances: Sequence[Mapping], *, unit: str) -> Chart:
    """Permutation importance of each feature on the surrogate, largest first (at most 30 bars)."""
    shown = list(importances[:DRIFT_BARS])[::-1]  # horizontal bars draw bottom-up
    fig = go.Figure(go.Bar(
        x=[item["importance"] for item in shown], y=[escape(item["feature"]) for item in shown], orientation="h",
        error_x={"type": "data", "array": [item["std"] for item in shown], "color": "#1b1f24", "thickness": 1.2},
        marker_color=SERIES_COLOURS[0], hovertemplate="%{y}<br>importance %{x:.4f}<extra></extra>"))
    fig.update_layout(**_layout(height=max(260, 80 + 24 * len(shown)), showlegend=False,
                                margin={"l": 160, "r": 20, "t": 30, "b": 50},
                                xaxis={"title": {"text": escape(unit)}}, yaxis={"automargin": True}))
    rows = [(Cell(item["feature"]), Cell(str(item["rank"])), Cell(_text(item["importance"])), Cell(_text(item["std"])))
            for item in importances]
    more = (f" (the {DRIFT_BARS} most important of {len(importances)} are drawn)"
            if len(importances) > DRIFT_BARS else "")
    return Chart("figure-importance", "Feature importance on the surrogate",
                 f"Horizontal bar chart of each feature's permutation importance on the surrogate{more}, the most "
                 "important at the top; the error bars are the spread over the shuffles.",
                 _figure(fig), ("Feature", "Rank", "Importance", "Spread (std)"), rows,
                 empty="No explanation was computed for this evaluation.")


def comparison_chart(result: Mapping, *, champion: str, challenger: str) -> Chart:
    """Champion and challenger side by side: accuracy, ROC AUC and each attribute's demographic parity difference."""
    measures: list[tuple[str, float | None, float | None]] = [
        ("Accuracy", result["accuracy"]["champion"], result["accuracy"]["challenger"])]
    if result.get("roc_auc"):
        measures.append(("ROC AUC", result["roc_auc"]["champion"], result["roc_auc"]["challenger"]))
    for attribute, values in (result.get("parity") or {}).items():
        measures.append((f"DP difference ({attribute})", values["champion"], values["challenger"]))
    names = [escape(m[0]) for m in measures]
    fig = go.Figure()
    for position, (side, colour) in enumerate(((champion, CHAMPION), (challenger, CHALLENGER)), start=1):
        fig.add_trace(go.Bar(name=escape(side), x=names, y=[m[position] for m in measures], marker_color=colour,
                             hovertemplate=f"{escape(side)}<br>%{{x}}: %{{y:.4f}}<extra></extra>"))
    fig.update_layout(**_layout(barmode="group", height=320, legend={"orientation": "h", "y": 1.12},
                                yaxis={"rangemode": "tozero"}, xaxis={"automargin": True}))
    rows = [(Cell(m[0]), Cell(_text(m[1])), Cell(_text(m[2])),
             Cell(_text(None if m[1] is None or m[2] is None else m[2] - m[1]))) for m in measures]
    return Chart("figure-compare", "Champion and challenger",
                 "Grouped bar chart of accuracy, ROC AUC and demographic parity difference of the champion and the "
                 "challenger on the same rows (for the parity difference, lower is fairer).",
                 _figure(fig), ("Measure", champion, challenger, "Difference (challenger − champion)"), rows)


def window_charts(windows: Sequence, *, task_type: str, rules: Mapping, series_label) -> list[Chart]:
    """One time-series chart per key metric of the task type, from MetricWindow-like objects."""
    charts = []
    for index, (key, title) in enumerate(KEY_METRICS.get(task_type, KEY_METRICS["binary"])):
        points = [(series_label(w), w.window_start.isoformat(), key_metric(w.metrics or {}, key), w.health)
                  for w in windows]
        charts.append(metric_series_chart(title=title, points=points, threshold=threshold_for(key, rules),
                                          index=index))
    return charts

"""Dashboard panels fed by the risk, reviews and monitoring apps: risk heat map, review status, health.

Pure figure builders (no Django imports); the dashboard reads their figures through the selectors of
risk (``risk_counts``), reviews (``review_counts``) and monitoring (``production_health``).
"""

from collections import Counter

from apps.inventory.charts import FONT, Cell, Chart, _figure, _trace, list_link
from apps.inventory.models import LIVE

TIER_COLOURS = {"low": "#1a7f37", "medium": "#bf8700", "high": "#d4641c", "critical": "#a40e26"}
HEALTH_COLOURS = {"healthy": "#1a7f37", "warning": "#bf8700", "breach": "#a40e26"}
REVIEW_STATUS = (
    ("approved", "Has an approved version", "#1a7f37"),
    ("in_review", "Review open", "#0969da"),
    ("unapproved_production", "In production without valid approval", "#a40e26"),
    ("none", "Never reviewed", "#8c959f"),
)
IMPACT = ("Negligible", "Minor", "Moderate", "Major", "Severe")
PROBABILITY = ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")


def risk_heatmap(cells: dict[tuple[int, int], int], tiers: Counter, *, register_url: str) -> Chart:
    """Current risks per probability x impact cell; a click opens the register filtered to that cell."""
    z = [[cells.get((p, i), 0) for i in range(1, 6)] for p in range(1, 6)]
    links = [[f"{register_url}?probability={p}&impact={i}" for i in range(1, 6)] for p in range(1, 6)]
    figure = _figure(
        [_trace("heatmap", z=z, x=[f"{i} {IMPACT[i - 1]}" for i in range(1, 6)],
                y=[f"{p} {PROBABILITY[p - 1]}" for p in range(1, 6)], customdata=links,
                colorscale=[[0, "#f6f8fa"], [0.35, "#fff8c5"], [0.7, "#ffb77c"], [1, "#a40e26"]], text=z,
                texttemplate="%{text}", showscale=False,
                hovertemplate="Probability %{y}<br>Impact %{x}<br>%{z} risks<extra></extra>")],
        height=360, margin={"l": 130, "r": 20, "t": 20, "b": 60}, xaxis={"title": {"text": "Impact"}},
        yaxis={"title": {"text": "Probability"}},
    )
    rows = [(Cell(f"P{p} × I{i}", links[p - 1][i - 1]), Cell(str(n)))
            for (p, i), n in sorted(cells.items(), reverse=True) if n]
    tier_text = ", ".join(f"{tiers[t]} {t}" for t in TIER_COLOURS if tiers[t]) or "no model assessed"
    return Chart(id="chart-risk-heatmap", title="Risk heat map", figure=figure,
                 summary=f"Current risks by probability and impact. Models by tier: {tier_text}.",
                 columns=("Cell", "Risks"), rows=rows,
                 empty="No risk assessments yet: assess a model and its four risks appear here.")


def review_status_chart(counts: dict[str, int], *, list_url: str, business_unit: str = "") -> Chart:
    labels = [label for _, label, _ in REVIEW_STATUS]
    values = [counts.get(key, 0) for key, _, _ in REVIEW_STATUS]
    links = [list_link(list_url, review_status=key, business_unit=business_unit, stage=LIVE)
             for key, _, _ in REVIEW_STATUS]
    figure = _figure(
        [_trace("bar", x=values, y=labels, orientation="h", customdata=links,
                marker={"color": [colour for *_, colour in REVIEW_STATUS]},
                hovertemplate="%{y}: %{x} models<extra></extra>")],
        height=280, margin={"l": 250, "r": 20, "t": 20, "b": 40}, xaxis={"title": {"text": "Models"}}, font=FONT,
    )
    rows = [(Cell(label, link), Cell(str(value))) for label, value, link in zip(labels, values, links, strict=True)]
    return Chart(id="chart-review-status", title="Review status", figure=figure,
                 summary="Models by the state of their responsible-AI reviews.", columns=("Status", "Models"),
                 rows=rows if any(values) else [], empty="No models yet.")


def health_chart(counts: dict[str, int], *, monitoring_url: str) -> Chart:
    states = list(HEALTH_COLOURS)
    values = [counts.get(s, 0) for s in states]
    links = [f"{monitoring_url}?health={s}" for s in states]
    figure = _figure(
        [_trace("bar", x=[s.capitalize() for s in states], y=values, customdata=links,
                marker={"color": [HEALTH_COLOURS[s] for s in states]},
                hovertemplate="%{x}: %{y} models in production<extra></extra>")],
        height=280, yaxis={"title": {"text": "Models in production"}},
    )
    rows = [(Cell(s.capitalize(), link), Cell(str(v))) for s, v, link in zip(states, values, links, strict=True)]
    return Chart(id="chart-health", title="Model health", figure=figure,
                 summary="Models in production by the worst open monitoring alert.", columns=("Health", "Models"),
                 rows=rows if any(values) else [], empty="No model in production yet.")

"""Dashboard panels of the portfolio's governance: risk heat map, governance state, health and approval.

Pure figure builders (no Django imports). The state, health and approval bars count the live models by
their stored governance state (``apps.inventory.governance`` names the values); each bar and table row
links to the model list with the same filter, so a bar holds the models it opens. The heat map counts
the current risk ratings, as the stored states tally them.
"""

from collections.abc import Mapping, Sequence

from apps.inventory import governance as g
from apps.inventory.charts import FONT, Cell, Chart, _figure, _trace, list_link
from apps.inventory.models import LIVE

TIERS = ("critical", "high", "medium", "low")
STATUS_COLOURS = {g.COMPLIANT: "#1a7f37", g.ATTENTION: "#bf8700", g.NON_COMPLIANT: "#d4641c",
                  g.SUSPENDED: "#a40e26"}
# Only what runs in production has a health; "no evidence" is never lumped into healthy.
HEALTH_COLOURS = {g.HEALTHY: "#1a7f37", g.WARNING: "#bf8700", g.BREACH: "#a40e26", g.NO_EVIDENCE: "#6e7781"}
APPROVAL_COLOURS = {g.APPROVED: "#1a7f37", g.APPROVAL_SUSPENDED: "#a40e26", g.VOID: "#d4641c",
                    g.INSUFFICIENT: "#bf8700", g.MISSING: "#8c959f"}
IMPACT = ("Negligible", "Minor", "Moderate", "Major", "Severe")
PROBABILITY = ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")


# One colour per tier, safest to gravest: a heat map is coloured by how grave a cell is, never by how many it holds
# (coloured by count, the busiest safe cell looked the most alarming).
TIER_COLOURS = ("#dafbe1", "#fff8c5", "#ffb77c", "#ff8182")


def tier_colourscale(levels: int = len(TIERS)) -> list:
    """A stepped colour scale for z = 0 .. levels - 1 (each level one flat colour), with zmin -0.5 and
    zmax levels - 0.5 so each level sits in the middle of its band."""
    scale = []
    for level, colour in enumerate(TIER_COLOURS[:levels]):
        scale += [[level / levels, colour], [(level + 1) / levels, colour]]
    return scale


def risk_heatmap(cells: dict[tuple[int, int], int], tiers: Mapping[str, int], *, register_url: str,
                 grid: Sequence[Sequence[str]] | None = None) -> Chart:
    """Current risks per probability x impact cell, each cell coloured by its severity in the risk matrix
    (``grid[probability - 1][impact - 1]``, a tier) and labelled with its count; a click opens the register
    filtered to that cell. ``tiers`` counts the models per stored tier ("" for never assessed).
    """
    order = tuple(reversed(TIERS))  # low .. critical
    level = [[order.index(grid[p - 1][i - 1]) if grid else 0 for i in range(1, 6)] for p in range(1, 6)]
    counts = [[cells.get((p, i), 0) for i in range(1, 6)] for p in range(1, 6)]
    severity = [[order[level[p][i]] if grid else "" for i in range(5)] for p in range(5)]
    links = [[f"{register_url}?probability={p}&impact={i}" for i in range(1, 6)] for p in range(1, 6)]
    figure = _figure(
        [_trace("heatmap", z=level, x=[f"{i} {IMPACT[i - 1]}" for i in range(1, 6)],
                y=[f"{p} {PROBABILITY[p - 1]}" for p in range(1, 6)], customdata=links, text=counts,
                texttemplate="%{text}", colorscale=tier_colourscale(), zmin=-0.5, zmax=len(TIERS) - 0.5,
                showscale=False,
                xgap=2, ygap=2, hovertext=severity,
                hovertemplate="Probability %{y}<br>Impact %{x}<br>Severity %{hovertext}<br>%{text} risks"
                              "<extra></extra>")],
        height=360, margin={"l": 130, "r": 20, "t": 20, "b": 60}, xaxis={"title": {"text": "Impact"}},
        yaxis={"title": {"text": "Probability"}},
    )
    rows = [(Cell(f"P{p} × I{i}", links[p - 1][i - 1]), Cell(severity[p - 1][i - 1] or "—"), Cell(str(n)))
            for (p, i), n in sorted(cells.items(), reverse=True) if n]
    named = [f"{tiers[t]} {t}" for t in TIERS if tiers.get(t)]
    if tiers.get(""):
        named.append(f"{tiers['']} not assessed")
    return Chart(id="chart-risk-heatmap", title="Risk heat map", figure=figure,
                 summary=f"The risks rated in the live models' current assessments (each assessment rates four, so "
                         f"a model counts four times), by probability and impact. A cell's colour is its severity "
                         f"in the risk matrix, its number how many risks fall in it. Live models by tier: "
                         f"{', '.join(named) or 'none yet'}.",
                 columns=("Cell", "Severity", "Risks"), rows=rows,
                 empty="No risk assessments yet: assess a model and its four risks appear here.")


def _model_bars(chart_id: str, title: str, summary: str, *, counts: Mapping[str, int],
                labels: Mapping[str, str], colours: Mapping[str, str], param: str, list_url: str,
                business_unit: str, empty: str, column: str) -> Chart:
    """Horizontal bars of live models per value of one stored dimension, each linked to the filtered model list."""
    keys: Sequence[str] = list(colours)
    names = [labels[k] for k in keys]
    values = [counts.get(k, 0) for k in keys]
    links = [list_link(list_url, **{param: k}, business_unit=business_unit, stage=LIVE) for k in keys]
    figure = _figure(
        [_trace("bar", x=values, y=names, orientation="h", customdata=links,
                marker={"color": [colours[k] for k in keys]},
                hovertemplate="%{y}: %{x} models<extra></extra>")],
        height=60 + 44 * len(keys), margin={"l": 190, "r": 20, "t": 20, "b": 40},
        xaxis={"title": {"text": "Live models"}, "rangemode": "tozero"}, yaxis={"autorange": "reversed"}, font=FONT,
    )
    rows = [(Cell(name, link), Cell(str(value), link)) for name, value, link in zip(names, values, links, strict=True)]
    return Chart(id=chart_id, title=title, figure=figure, summary=summary, columns=(column, "Models"),
                 rows=rows if any(values) else [], empty=empty)


def governance_state_chart(counts: Mapping[str, int], *, list_url: str, business_unit: str = "") -> Chart:
    return _model_bars(
        "chart-governance-state", "Governance state",
        "Live models by their governance state: what they hold against what their risk tier's policy asks.",
        counts=counts, labels=g.STATUS_LABELS, colours=STATUS_COLOURS, param="governance", list_url=list_url,
        business_unit=business_unit, empty="No live models yet.", column="State")


def health_chart(counts: Mapping[str, int], *, list_url: str, business_unit: str = "") -> Chart:
    return _model_bars(
        "chart-health", "Model health",
        "Live models running in production by monitoring health. Healthy needs monitoring results within the "
        "tier's cadence and no open alert; a model never evaluated, or whose results lapsed, has no evidence.",
        counts=counts, labels=g.HEALTH_LABELS, colours=HEALTH_COLOURS, param="health", list_url=list_url,
        business_unit=business_unit, empty="No model in production yet.", column="Health")


def approval_chart(counts: Mapping[str, int], *, list_url: str, business_unit: str = "") -> Chart:
    return _model_bars(
        "chart-approval", "Approval",
        "Live models by the responsible-AI approval of what runs (or of the candidate when nothing runs yet).",
        counts=counts, labels=g.APPROVAL_LABELS, colours=APPROVAL_COLOURS, param="approval", list_url=list_url,
        business_unit=business_unit, empty="No live models yet.", column="Approval")

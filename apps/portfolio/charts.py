"""The dashboard's portfolio figures: models by stage and unit, business impact, exposure x automation.

Pure functions, no Django imports: the view passes in counts and base URLs. Built from the
chart parts of ``apps.inventory.charts`` (the figure, its data table, the model list's links).
"""

from collections.abc import Iterable, Sequence
from html import escape

from apps.inventory.charts import Cell, Chart, _figure, _trace, list_link
from apps.inventory.models import LIVE
from apps.portfolio.governance_charts import tier_colourscale

STAGE_COLOURS = {
    "development": "#8c959f", "validation": "#bf8700", "staging": "#0969da", "production": "#1a7f37",
    "retired": "#d0d7de",
}


def stage_by_unit_chart(counts: Iterable[tuple[str, str, str, int]], *, stages: Sequence[tuple[str, str]],
                        list_url: str) -> Chart:
    """Stacked bars: models per business unit, one colour per lifecycle stage.

    ``counts`` holds (unit slug, unit name, stage, number of models); clicking a
    bar opens the model list filtered to that unit and stage.
    """
    table: dict[tuple[str, str], dict[str, int]] = {}
    for slug, name, stage, n in counts:
        by_stage = table.setdefault((name, slug), {})
        by_stage[stage] = by_stage.get(stage, 0) + n
    units = sorted(table, key=lambda unit: (unit[0].casefold(), unit[1]))
    present = [(value, label) for value, label in stages if any(table[u].get(value) for u in units)]
    traces = [
        _trace(
            "bar", name=label, x=[escape(name) for name, _ in units], y=[table[u].get(value, 0) for u in units],
            marker={"color": STAGE_COLOURS[value]} if value in STAGE_COLOURS else None, meta=value,
            customdata=[list_link(list_url, business_unit=slug, stage=value) for _, slug in units],
            hovertemplate=f"%{{x}}<br>{escape(label)}: %{{y}} model(s)<br>Click to list them<extra></extra>",
        )
        for value, label in present
    ]
    tallest = max((sum(table[u].values()) for u in units), default=0)
    figure = _figure(
        traces, barmode="stack", height=380, margin={"l": 60, "r": 20, "t": 40, "b": 20},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "traceorder": "normal"},
        xaxis={"automargin": True},
        # Whole models only: one tick per model while that stays readable.
        yaxis={"title": {"text": "Models"}, "rangemode": "tozero", **({"dtick": 1} if tallest <= 8 else {}),
               "tickformat": ",d"},
    )
    rows = [
        (Cell(name, list_link(list_url, business_unit=slug)),
         *(Cell(str(table[(name, slug)].get(v, 0)), list_link(list_url, business_unit=slug, stage=v))
           for v, _ in present),
         Cell(str(sum(table[(name, slug)].values()))))
        for name, slug in units
    ]
    return Chart("figure-stage-by-unit", "Models by stage and business unit",
                 "Stacked bar chart of the number of models in each lifecycle stage, per business unit.",
                 figure, ("Business unit", *(label for _, label in present), "Total"), rows,
                 empty="No models are registered yet.")


def _side_by_side(left: str, right: str, *, gap: float = 0.08) -> dict:
    """Layout of two plots side by side sharing their y axis, each titled (what ``make_subplots`` gives)."""
    width = (1 - gap) / 2
    title = {"font": {"size": 16}, "showarrow": False, "xanchor": "center", "xref": "paper", "y": 1.0,
             "yanchor": "bottom", "yref": "paper"}
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, width], "rangemode": "tozero"},
        "xaxis2": {"anchor": "y2", "domain": [1 - width, 1.0], "rangemode": "tozero"},
        "yaxis": {"anchor": "x", "domain": [0.0, 1.0]},
        "yaxis2": {"anchor": "x2", "domain": [0.0, 1.0], "matches": "y", "showticklabels": False},
        "annotations": [{**title, "text": left, "x": width / 2}, {**title, "text": right, "x": 1 - width / 2}],
    }


def impact_by_unit_chart(rows: Iterable[tuple[str, str, int, float | None, int | None]], *, list_url: str,
                         production_stage: str = "production") -> Chart:
    """Value at stake and decisions per day of the processes served by production models, per unit.

    ``rows`` holds (unit slug, unit name, processes, yearly value at stake in EUR, decisions per day).
    """
    data = sorted(rows, key=lambda r: (r[1].casefold(), r[0]))
    names = [escape(r[1]) for r in data]
    links = [list_link(list_url, business_unit=r[0], stage=production_stage) for r in data]
    figure = _figure(
        [_trace("bar", x=[float(r[3] or 0) for r in data], y=names, orientation="h", marker={"color": "#1f4e79"},
                customdata=links, name="Value at stake", xaxis="x", yaxis="y",
                hovertemplate="%{y}<br>EUR %{x:,.0f} per year<extra></extra>"),
         _trace("bar", x=[int(r[4] or 0) for r in data], y=names, orientation="h", marker={"color": "#1a7f37"},
                customdata=links, name="Decisions per day", xaxis="x2", yaxis="y2",
                hovertemplate="%{y}<br>%{x:,} decisions per day<extra></extra>")],
        showlegend=False, height=max(260, 70 + 45 * len(data)), margin={"l": 140, "r": 20, "t": 40, "b": 40},
        **_side_by_side("Value at stake (EUR per year)", "Decisions per day"),
    )
    table = [
        (Cell(r[1], link), Cell(str(r[2])), Cell(f"{float(r[3]):,.0f}" if r[3] is not None else "not recorded"),
         Cell(f"{int(r[4]):,}" if r[4] is not None else "not recorded"))
        for r, link in zip(data, links, strict=True)
    ]
    return Chart("figure-impact-by-unit", "Business impact of models in production",
                 "Horizontal bars of the yearly value at stake and the decisions per day of the business processes "
                 "that models in production serve, per business unit.",
                 figure, ("Business unit", "Processes served", "Value at stake (EUR / year)",
                                     "Decisions per day"), table,
                 empty="No business process is served by a model in production yet.")


EXTERNAL = ("customer_facing", "public")


def escalation(exposure: str, automation: str, rules: dict) -> int:
    """How many tiers the risk matrix's escalation rules (``apps.risk.scoring``, both on by default) add for this
    use: one for output seen outside the organisation, one for fully automated decisions."""
    return ((exposure in EXTERNAL and rules.get("escalate_external_exposure", True))
            + (automation == "fully_automated" and rules.get("escalate_fully_automated", True)))


def exposure_automation_chart(counts: Iterable[tuple[str, str, int]], *, exposures: Sequence[tuple[str, str]],
                              automation_levels: Sequence[tuple[str, str]], list_url: str,
                              business_unit: str = "", rules: dict | None = None) -> Chart:
    """Heat map of live models by who sees their output (exposure) and how much a human checks it (automation).

    A cell is coloured by how grave that use is (the tiers the matrix's escalation rules add to it), labelled
    with how many models are used so; a safe cell never looks alarming because it is busy.
    """
    grid = {(e, a): 0 for e, _ in exposures for a, _ in automation_levels}
    for exposure, automation, n in counts:
        grid[(exposure, automation)] = grid.get((exposure, automation), 0) + n
    rules = rules or {}
    z = [[escalation(e, a, rules) for e, _ in exposures] for a, _ in automation_levels]
    text = [[grid[(e, a)] for e, _ in exposures] for a, _ in automation_levels]
    steps = [[f"+{n} tier{'s' if n != 1 else ''}" for n in row] for row in z]
    figure = _figure(
        [_trace("heatmap", z=z, text=text, hovertext=steps, x=[escape(label) for _, label in exposures],
                y=[escape(label) for _, label in automation_levels], colorscale=tier_colourscale(3),
                zmin=-0.5, zmax=2.5, showscale=False, texttemplate="%{text}", xgap=3, ygap=3,
                hovertemplate="%{y}<br>%{x}: %{text} model(s)<br>The risk matrix adds %{hovertext}"
                              "<extra></extra>")],
        margin={"l": 250, "r": 20, "t": 30, "b": 60}, height=300,
        xaxis={"title": {"text": "Exposure"}, "side": "bottom"}, yaxis={"automargin": True},
    )
    total = sum(grid.values())
    rows = [
        (Cell(a_label), *(Cell(str(grid[(e, a)]), list_link(list_url, business_unit=business_unit, stage=LIVE,
                                                            exposure=e, automation_level=a))
                          for e, _ in exposures))
        for a, a_label in automation_levels
    ] if total else []
    return Chart("figure-exposure-automation", "Live models by exposure and automation level",
                 "Heat map counting models that are not retired by exposure (columns) and automation level (rows). "
                 "A cell's colour is how grave that use is (green: no escalation; yellow: the risk matrix adds one "
                 "tier; orange: two), its number how many models are used so.",
                 figure, ("Automation level", *(label for _, label in exposures)), rows,
                 empty="No live models yet.")

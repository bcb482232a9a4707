"""Plotly figures for the dashboard and the lineage pages, as plain JSON-ready dicts.

Pure functions, no Django imports: views pass in counts and base URLs. Every
chart comes with the same numbers as a table (``Chart.columns``/``rows``) so the
page reads without JavaScript. A point's ``customdata`` holds the URL that
``static/js/charts.js`` opens when the point is clicked.

Plotly renders text as a small subset of HTML and decodes entities, so every
name that comes from users is escaped before it goes into a figure.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from apps.inventory import lineage
from apps.inventory.models import LIVE

STAGE_COLOURS = {
    "development": "#8c959f", "validation": "#bf8700", "staging": "#0969da", "production": "#1a7f37",
    "retired": "#d0d7de",
}
KIND_STYLE = {  # colour, symbol
    lineage.RAW: ("#57606a", "square"),
    lineage.STEP: ("#8250df", "triangle-right"),
    lineage.DERIVED: ("#0969da", "square"),
    lineage.MODEL: ("#bf8700", "circle-open"),
    lineage.VERSION: ("#bf8700", "circle"),
    lineage.DEPLOYMENT: ("#1a7f37", "diamond"),
    lineage.PROCESS: ("#1f4e79", "hexagon"),
}
FLAG_COLOUR = "#a40e26"
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 13, "color": "#1b1f24"}
LABEL_LENGTH = 25
# Plotly's "none" template as plotly.py writes it out: no styling beyond plotly.js's own defaults.
NO_TEMPLATE = {"data": {"scatter": [{"type": "scatter"}]}}


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Chart:
    """A figure plus its text alternative. ``id`` is the id of the ``json_script`` element holding the figure."""

    id: str
    title: str
    summary: str
    figure: dict
    columns: tuple[str, ...] = ()
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    empty: str = "No data yet."

    @property
    def is_empty(self) -> bool:
        return not self.rows


def _figure(traces: Iterable[dict], **layout) -> dict:
    """Traces plus the portal's layout, as a JSON-ready dict.

    Written directly in the form plotly.py itself outputs (``go.Figure(...).to_plotly_json()``:
    full property names, a ``type`` on every trace, axis titles as ``{"text": ...}``) rather than
    built with ``plotly.graph_objects``, whose validation cost the dashboard a tenth of its time.
    tests/inventory/test_charts.py feeds every figure through plotly, so an invalid property still fails.
    """
    return {"data": list(traces), "layout": _base_layout(**layout)}


def _trace(kind: str, **properties) -> dict:
    """A trace of type ``kind``; properties set to None are left out, as plotly leaves them."""
    return {"type": kind, **{name: value for name, value in properties.items() if value is not None}}


def _base_layout(**extra) -> dict:
    layout = {
        "template": NO_TEMPLATE, "font": FONT, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "margin": {"l": 60, "r": 20, "t": 30, "b": 60}, "hoverlabel": {"font": {"family": FONT["family"]}},
    }
    layout.update(extra)
    return layout


def list_link(list_url: str, **params) -> str:
    """The model list filtered by ``params`` (empty values left out)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{list_url}?{query}" if query else list_url


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


def exposure_automation_chart(counts: Iterable[tuple[str, str, int]], *, exposures: Sequence[tuple[str, str]],
                              automation_levels: Sequence[tuple[str, str]], list_url: str,
                              business_unit: str = "") -> Chart:
    """Heat map of live models by who sees their output (exposure) and how much a human checks it (automation)."""
    grid = {(e, a): 0 for e, _ in exposures for a, _ in automation_levels}
    for exposure, automation, n in counts:
        grid[(exposure, automation)] = grid.get((exposure, automation), 0) + n
    z = [[grid[(e, a)] for e, _ in exposures] for a, _ in automation_levels]
    figure = _figure(
        [_trace("heatmap", z=z, x=[escape(label) for _, label in exposures],
                y=[escape(label) for _, label in automation_levels], colorscale=[[0, "#f6f8fa"], [1, "#a40e26"]],
                showscale=False, texttemplate="%{z}", xgap=3, ygap=3,
                hovertemplate="%{y}<br>%{x}: %{z} model(s)<extra></extra>")],
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
                 "Heat map counting models that are not retired by exposure (columns) and automation level (rows); "
                 "the top-right cells are the riskiest.",
                 figure, ("Automation level", *(label for _, label in exposures)), rows,
                 empty="No live models yet.")


def _hover(node: lineage.Node) -> str:
    lines = [f"<b>{escape(node.label)}</b>", escape(lineage.KIND_LABELS[node.kind]), *map(escape, node.detail)]
    if node.flag:
        lines.append(f"⚠ {escape(node.flag)}")
    if node.url:
        lines.append("<i>Click to open</i>")
    return "<br>".join(lines)


def _short(label: str) -> str:
    """Labels drawn on the graph keep both ends (a URL's tail tells endpoints apart); hover shows them whole."""
    if len(label) <= LABEL_LENGTH:
        return escape(label)
    half = (LABEL_LENGTH - 1) // 2
    return escape(f"{label[:half]}…{label[-half:]}")


def lineage_figure(graph: lineage.Graph) -> dict:
    """Nodes as markers (one trace per kind, for the legend), edges as line segments, columns as x ticks."""
    traces = []
    for kind, dash, name in ((lineage.FLOW, "solid", "Data and deployment flow"),
                             (lineage.DECLARED, "dot", "Declared use, no active deployment")):
        xs, ys = [], []
        for edge in graph.edges:
            if edge.kind != kind:
                continue
            source, target = graph.node(edge.source), graph.node(edge.target)
            xs += [source.layer, target.layer, None]
            ys += [source.y, target.y, None]
        if xs:
            traces.append(_trace("scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", name=name,
                                 line={"color": "#8c959f", "width": 1.2, "dash": dash}))
    for kind, (colour, symbol) in KIND_STYLE.items():
        nodes = [n for n in graph.nodes if n.kind == kind]
        if not nodes:
            continue
        traces.append(_trace(
            "scatter", x=[n.layer for n in nodes], y=[n.y for n in nodes], mode="markers+text",
            name=lineage.KIND_LABELS[kind],
            text=[_short(n.label) for n in nodes], textposition="top center", textfont={"size": 11},
            hovertext=[_hover(n) for n in nodes], hoverinfo="text", customdata=[n.url for n in nodes],
            marker={"size": 16, "color": colour, "symbol": symbol,
                    "line": {"color": [FLAG_COLOUR if n.flag else "#ffffff" for n in nodes],
                             "width": [3 if n.flag else 1 for n in nodes]}},
        ))
    tallest = max((len(nodes) for _, nodes in graph.layers()), default=1)
    columns = sorted(graph.columns)
    return _figure(
        traces, height=max(360, 90 + 70 * tallest), hovermode="closest", margin={"l": 20, "r": 20, "t": 50, "b": 20},
        legend={"orientation": "h", "y": -0.05, "yanchor": "top"},
        xaxis={"tickvals": columns, "ticktext": [graph.columns[c] for c in columns], "side": "top",
               "showgrid": False, "zeroline": False, "range": [-0.5, (columns[-1] if columns else 0) + 0.5]},
        yaxis={"visible": False, "range": [-(tallest / 2) - 0.2, tallest / 2 + 0.3]},
    )


def lineage_chart(graph: lineage.Graph, *, title: str) -> Chart:
    rows = []
    for edge in graph.edges:
        source, target = graph.node(edge.source), graph.node(edge.target)
        rows.append((Cell(source.label, source.url), Cell(lineage.KIND_LABELS[source.kind]),
                     Cell(target.label, target.url), Cell(lineage.KIND_LABELS[target.kind]),
                     Cell("declared, not deployed" if edge.kind == lineage.DECLARED else "")))
    return Chart("figure-lineage", title,
                 "Lineage graph read left to right: data sets, pipeline steps, model versions, deployments and "
                 "the business processes they serve.",
                 lineage_figure(graph), ("From", "Kind", "To", "Kind", "Note"), rows)

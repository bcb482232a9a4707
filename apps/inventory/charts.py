"""Plotly figures for the lineage pages, as plain JSON-ready dicts, and the chart parts every page shares.

Pure functions, no Django imports: views pass in counts and base URLs (the dashboard's own figures
are in ``apps.portfolio.charts``). Every
chart comes with the same numbers as a table (``Chart.columns``/``rows``) so the
page reads without JavaScript. A point's ``customdata`` holds the URL that
``static/js/charts.js`` opens when the point is clicked.

Plotly renders text as a small subset of HTML and decodes entities, so every
name that comes from users is escaped before it goes into a figure.
"""

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from apps.inventory import governance, lineage

KIND_STYLE = {  # colour, symbol; models and versions take the colour of their governance state instead
    lineage.RAW: ("#57606a", "square"),
    lineage.STEP: ("#8250df", "triangle-right"),
    lineage.DERIVED: ("#0969da", "square"),
    lineage.MODEL: ("#bf8700", "circle-open"),
    lineage.VERSION: ("#bf8700", "circle"),
    lineage.DEPLOYMENT: ("#1b7c83", "diamond"),
    lineage.PROCESS: ("#1f4e79", "hexagon"),
    lineage.DATA_GROUP: ("#0969da", "square-dot"),
    lineage.MODEL_GROUP: ("#bf8700", "circle-dot"),
    lineage.PROCESS_GROUP: ("#1f4e79", "hexagon-dot"),
}
GROUP_KINDS = lineage.GROUPS
# The stored governance state of a model or version node, best to worst, then "not computed yet".
STATUS_COLOURS = {
    governance.COMPLIANT: "#1a7f37",
    governance.ATTENTION: "#d4a72c",
    governance.NON_COMPLIANT: "#cf222e",
    governance.SUSPENDED: "#6e011a",
    "": "#8c959f",
}
FLAG_COLOUR = "#a40e26"
HIGHLIGHT_COLOUR = "#0550ae"  # the ring of a node the search found, or the focused node
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 13, "color": "#1b1f24"}
# A node's label wraps onto at most three lines of 20 characters: that fits between two columns and two nodes.
LABEL_WIDTH, LABEL_LINES = 20, 3
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


def _hover(node: lineage.Node) -> str:
    lines = [f"<b>{escape(node.label)}</b>", escape(lineage.KIND_LABELS[node.kind]), *map(escape, node.detail)]
    if node.kind == lineage.MODEL_GROUP:
        lines.append(f"Worst governance state: {node.status_label}")
    elif node.governed:
        lines.append(f"Governance: {node.status_label}" + (f" · Health: {node.health_label}" if node.health else "")
                     + (f" · Approval: {node.approval_label}" if node.approval else ""))
    if node.flag:
        lines.append(f"⚠ {escape(node.flag)}")
    if node.url:
        lines.append("<i>Click to show them all</i>" if node.kind in GROUP_KINDS else "<i>Click to open</i>")
    return "<br>".join(lines)


def _wrapped(label: str, *, bold: bool = False) -> str:
    """A node's label as drawn: wrapped at word boundaries (a long name or URL is split) rather than cut, ending in
    "…" only past three lines; hover and the list under the graph show it whole."""
    lines = textwrap.wrap(label, width=LABEL_WIDTH, max_lines=LABEL_LINES, placeholder=" …",
                          break_on_hyphens=False) or [label]
    return "<br>".join(f"<b>{escape(line)}</b>" if bold else escape(line) for line in lines)


def _drawn_label(node: lineage.Node, highlight: bool) -> str:
    """The label under a node; a group of models also says its worst state in words, not by colour alone."""
    text = _wrapped(node.label, bold=highlight)
    if node.kind == lineage.MODEL_GROUP:
        text += f"<br><i>Worst: {escape(node.status_label)}</i>"
    return text


def lineage_figure(graph: lineage.Graph, *, highlight: frozenset[str] | set[str] = frozenset()) -> dict:
    """Nodes as markers (one trace per kind, for the legend), edges as line segments, columns as x ticks.

    Nodes in ``highlight`` (search matches, the focused node) get a thick blue ring and a bold label."""
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
        if kind not in lineage.GOVERNED:
            traces += _node_trace(nodes, lineage.KIND_LABELS[kind], colour, symbol, highlight)
            continue
        # One trace per state, so the legend names each colour.
        for status, status_colour in STATUS_COLOURS.items():
            label = governance.STATUS_LABELS.get(status, "not computed yet")
            traces += _node_trace([n for n in nodes if n.status == status],
                                  f"{lineage.KIND_LABELS[kind]}: {label}", status_colour, symbol, highlight)
    tallest = max((len(nodes) for _, nodes in graph.layers()), default=1)
    columns = sorted(graph.columns)
    return _figure(
        traces, height=max(360, 90 + 70 * tallest), hovermode="closest", margin={"l": 20, "r": 20, "t": 50, "b": 20},
        legend={"orientation": "h", "y": -0.05, "yanchor": "top"},
        xaxis={"tickvals": columns, "ticktext": [graph.columns[c] for c in columns], "side": "top",
               "showgrid": False, "zeroline": False, "range": [-0.5, (columns[-1] if columns else 0) + 0.5]},
        yaxis={"visible": False, "range": [-(tallest / 2) - 0.2, tallest / 2 + 0.3]},
    )


def _node_trace(nodes: list[lineage.Node], name: str, colour: str, symbol: str, highlight=frozenset()) -> list[dict]:
    if not nodes:
        return []

    def ring(node):
        if node.key in highlight:
            return HIGHLIGHT_COLOUR, 4
        return (FLAG_COLOUR, 3) if node.flag else ("#ffffff", 1)

    rings = [ring(n) for n in nodes]
    return [_trace(
        "scatter", x=[n.layer for n in nodes], y=[n.y for n in nodes], mode="markers+text", name=name,
        text=[_drawn_label(n, n.key in highlight) for n in nodes],
        textposition="top center", textfont={"size": 11},
        hovertext=[_hover(n) for n in nodes], hoverinfo="text", customdata=[n.url for n in nodes],
        marker={"size": 24 if nodes[0].kind in GROUP_KINDS else 16, "color": colour, "symbol": symbol,
                "line": {"color": [c for c, _ in rings], "width": [w for _, w in rings]}},
    )]


def lineage_chart(graph: lineage.Graph, *, title: str, highlight: frozenset[str] | set[str] = frozenset()) -> Chart:
    rows = []
    for edge in graph.edges:
        source, target = graph.node(edge.source), graph.node(edge.target)
        rows.append((Cell(source.label, source.url), Cell(lineage.KIND_LABELS[source.kind]),
                     Cell(target.label, target.url), Cell(lineage.KIND_LABELS[target.kind]),
                     Cell("declared, not deployed" if edge.kind == lineage.DECLARED else "")))
    return Chart("figure-lineage", title,
                 "Lineage graph read left to right: data sets, pipeline steps, model versions, deployments and "
                 "the business processes they serve.",
                 lineage_figure(graph, highlight=highlight), ("From", "Kind", "To", "Kind", "Note"), rows)

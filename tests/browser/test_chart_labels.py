"""Chart labels drawn by the vendored Plotly bundle, measured in a real browser: none overlaps another."""

import json

import pytest
from django.contrib.staticfiles import finders

from apps.inventory import lineage
from apps.inventory.charts import lineage_figure
from apps.inventory.lineage import DataSetRecord, DeploymentRecord, ModelRecord, ProcessRecord, VersionRecord
from apps.monitoring.charts import drift_chart
from tests.core.test_static import PLOTLY_BUNDLE

pytestmark = [pytest.mark.browser]


def draw(page, figure: dict, width: int = 900) -> None:
    page.set_content(f'<div id="chart" style="width: {width}px"></div>')
    page.add_script_tag(path=finders.find(PLOTLY_BUNDLE))
    page.evaluate("figure => Plotly.newPlot('chart', figure.data, figure.layout)", json.loads(json.dumps(figure)))


def overlaps(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.mark.parametrize("psi_max", [None, 0.08])  # the usual reading's lines, or a policy's limit and warning
@pytest.mark.parametrize("worst_psi", [0.25, 2.0, 40.0])
def test_the_drift_chart_s_reading_line_labels_never_overlap(page, worst_psi, psi_max):
    draw(page, drift_chart({"x1": {"psi": worst_psi}, "x2": {"psi": 0.15}, "x3": {"psi": 0.01}}, psi_max).figure)

    boxes = [label.bounding_box() for label in page.locator(".annotation-text").all()]

    assert len(boxes) == 2 and not overlaps(*boxes), boxes


def _portfolio_graph():
    processes = ["Anti-money-laundering transaction monitoring", "Retail credit line approval",
                 "Corporate loan pricing committee"]
    return lineage.build_graph(
        datasets=[DataSetRecord(i, f"Core banking transactions extract {i}") for i in range(1, 4)],
        models=[ModelRecord(100 + i, f"Suspicious payment detector {i}", processes=(200 + i,)) for i in range(3)],
        versions=[VersionRecord(1000 + i, 100 + i, f"Suspicious payment detector {i} 2.0.0", training=(1 + i,))
                  for i in range(3)],
        deployments=[DeploymentRecord(3000 + i, 1000 + i, f"https://scoring.example.org/v2/aml/{i}",
                                      process=200 + i) for i in range(3)],
        processes=[ProcessRecord(200 + i, name) for i, name in enumerate(processes)],
    )


def test_lineage_labels_are_drawn_whole_and_apart(page):
    graph = _portfolio_graph()
    page.set_viewport_size({"width": 1280, "height": 900})
    draw(page, lineage_figure(graph), width=1200)

    texts = page.locator(".scatterlayer .textpoint text")
    drawn = [" ".join(t.text_content().split()) for t in texts.all()]
    boxes = [t.bounding_box() for t in texts.all()]
    plot = page.locator(".main-svg").first.bounding_box()

    assert sorted(text.replace(" ", "") for text in drawn) == sorted(n.label.replace(" ", "") for n in graph.nodes)
    clashes = [(drawn[i], drawn[j]) for i in range(len(boxes)) for j in range(i) if overlaps(boxes[i], boxes[j])]
    assert clashes == []
    assert all(plot["y"] <= b["y"] and b["x"] >= plot["x"] and b["x"] + b["width"] <= plot["x"] + plot["width"]
               for b in boxes)

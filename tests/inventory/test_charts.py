"""The chart builders write plain dicts, so plotly validates them here instead of on every request.

Each figure goes through ``plotly.graph_objects.Figure``: an unknown or misspelt property, or a
value of the wrong type, raises; and what plotly writes back out must be the figure itself, so
the page sends plotly.js exactly what building the figure with plotly would have sent.
"""

import json

import plotly.graph_objects as go
import pytest

from apps.inventory import charts
from apps.inventory.lineage import (
    DataSetRecord,
    DeploymentRecord,
    ModelRecord,
    ProcessRecord,
    StepRecord,
    VersionRecord,
    build_graph,
)


def as_plotly_writes_it(figure: dict) -> dict:
    return json.loads(go.Figure(figure).to_json())


def lineage_graph():
    return build_graph(
        datasets=[DataSetRecord(1, "raw customers"), DataSetRecord(2, "features", derived=True)],
        steps=[StepRecord(10, "build features", inputs=(1,), output=2)],
        models=[ModelRecord(100, "Churn", stage="production", processes=(7, 8), flag="Owner has left"),
                ModelRecord(101, "New", status="attention", health="not_monitored")],
        versions=[VersionRecord(1000, 100, "Churn 1.0", stage="production", training=(2,), url="/v/1000/",
                                status="suspended", health="breach"),
                  VersionRecord(1001, 100, "Churn 2.0", stage="development", training=(2,))],
        deployments=[DeploymentRecord(500, 1000, "Production: churn-endpoint", process=7, mismatch="numpy")],
        processes=[ProcessRecord(7, "Retention <b>offers</b>"), ProcessRecord(8, "A process with a long name indeed")],
    )


CHARTS = {
    "lineage": lambda: charts.lineage_figure(lineage_graph()),
    "lineage, empty": lambda: charts.lineage_figure(build_graph()),
}


@pytest.mark.parametrize("build", CHARTS.values(), ids=CHARTS.keys())
def test_every_figure_is_valid_plotly_and_written_as_plotly_writes_it(build):
    figure = build()

    assert figure == as_plotly_writes_it(figure)


def test_it_catches_a_property_plotly_does_not_know():
    figure = charts._figure([charts._trace("bar", x=[1], y=[2], colour="red")])

    with pytest.raises(ValueError, match="colour"):
        as_plotly_writes_it(figure)


def test_it_catches_a_shorthand_plotly_would_have_expanded():
    figure = charts._figure([charts._trace("bar", x=[1], y=[2])], xaxis={"title": "Models"})

    assert figure != as_plotly_writes_it(figure)

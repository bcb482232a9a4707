"""The dashboard's chart builders write plain dicts, so plotly validates them here instead of on every request.

Each figure goes through ``plotly.graph_objects.Figure``: an unknown or misspelt property, or a value of
the wrong type, raises; and what plotly writes back out must be the figure itself.
"""

import json

import plotly.graph_objects as go
import pytest

from apps.inventory.models import STAGE_ORDER, AutomationLevel, Exposure
from apps.portfolio import charts, governance_charts
from apps.risk.scoring import DEFAULT_MATRIX

LIST_URL = "/inventory/"
GRID = DEFAULT_MATRIX["grid"]
STAGES = [(s.value, s.label) for s in STAGE_ORDER]


def as_plotly_writes_it(figure: dict) -> dict:
    return json.loads(go.Figure(figure).to_json())


CHARTS = {
    "stage by unit": lambda: charts.stage_by_unit_chart(
        [("risk", "Risk & Fraud", "production", 3), ("risk", "Risk & Fraud", "development", 1),
         ("ops", "Operations", "staging", 2)], stages=STAGES, list_url=LIST_URL).figure,
    "stage by unit, tall": lambda: charts.stage_by_unit_chart(
        [("ops", "Operations", "production", 40)], stages=STAGES, list_url=LIST_URL).figure,
    "stage by unit, empty": lambda: charts.stage_by_unit_chart([], stages=STAGES, list_url=LIST_URL).figure,
    "impact by unit": lambda: charts.impact_by_unit_chart(
        [("risk", "Risk", 2, 1_500_000.0, 1200), ("ops", "Operations", 1, None, None)], list_url=LIST_URL).figure,
    "exposure x automation": lambda: charts.exposure_automation_chart(
        [("public", "fully_automated", 2), ("internal", "human_decides", 5)], exposures=Exposure.choices,
        automation_levels=AutomationLevel.choices, list_url=LIST_URL).figure,
    "risk heat map": lambda: governance_charts.risk_heatmap(
        {(2, 3): 4, (5, 5): 1}, {"high": 1, "low": 3, "": 2}, register_url="/risk/", grid=GRID).figure,
    "risk heat map without a matrix": lambda: governance_charts.risk_heatmap(
        {(2, 3): 4}, {"low": 1}, register_url="/risk/").figure,
    "governance state": lambda: governance_charts.governance_state_chart(
        {"compliant": 3, "suspended": 1}, list_url=LIST_URL, business_unit="risk").figure,
    "approval": lambda: governance_charts.approval_chart(
        {"approved": 3, "missing": 2}, list_url=LIST_URL, business_unit="risk").figure,
    "health": lambda: governance_charts.health_chart(
        {"healthy": 4, "breach": 1, "no_evidence": 2}, list_url=LIST_URL).figure,
}


@pytest.mark.parametrize("build", CHARTS.values(), ids=CHARTS.keys())
def test_every_dashboard_figure_is_valid_plotly_and_written_as_plotly_writes_it(build):
    figure = build()

    assert figure == as_plotly_writes_it(figure)


def test_the_health_chart_keeps_no_evidence_apart_from_healthy():
    chart = governance_charts.health_chart({"healthy": 4, "no_evidence": 2, "not_monitored": 9}, list_url=LIST_URL)

    assert [(label.text, number.text, number.url) for label, number in chart.rows] == [
        ("Healthy", "4", "/inventory/?health=healthy&stage=live"),
        ("Warning", "0", "/inventory/?health=warning&stage=live"),
        ("Breach", "0", "/inventory/?health=breach&stage=live"),
        ("No evidence", "2", "/inventory/?health=no_evidence&stage=live")]


def test_the_risk_heat_map_colours_a_cell_by_its_severity_in_the_matrix_and_labels_it_with_its_count():
    # The busiest cell is a safe one: coloured by count it looked the most alarming.
    chart = governance_charts.risk_heatmap({(2, 2): 23, (5, 5): 1}, {"low": 6}, register_url="/risk/", grid=GRID)

    trace = chart.figure["data"][0]
    order = ("low", "medium", "high", "critical")
    assert [[order[z] for z in row] for row in trace["z"]] == [list(row) for row in GRID]
    assert trace["text"][1][1] == 23 and trace["text"][4][4] == 1
    assert trace["z"][1][1] < trace["z"][4][4]  # the safe busy cell is paler than the grave rare one
    assert [(a.text, b.text, c.text) for a, b, c in chart.rows] == [
        ("P5 × I5", GRID[4][4], "1"), ("P2 × I2", GRID[1][1], "23")]
    assert "a model counts four times" in chart.summary


def test_the_exposure_map_colours_a_use_by_the_tiers_the_matrix_adds_not_by_how_many_models():
    chart = charts.exposure_automation_chart(
        [("internal", "human_decides", 30), ("public", "fully_automated", 1)], exposures=Exposure.choices,
        automation_levels=AutomationLevel.choices, list_url=LIST_URL)
    trace = chart.figure["data"][0]
    column = {value: i for i, (value, _) in enumerate(Exposure.choices)}
    row = {value: i for i, (value, _) in enumerate(AutomationLevel.choices)}

    safe, grave = (row["human_decides"], column["internal"]), (row["fully_automated"], column["public"])
    assert (trace["z"][safe[0]][safe[1]], trace["text"][safe[0]][safe[1]]) == (0, 30)
    assert (trace["z"][grave[0]][grave[1]], trace["text"][grave[0]][grave[1]]) == (2, 1)
    # A matrix that does not escalate automated decisions colours them as it scores them.
    lenient = charts.exposure_automation_chart(
        [], exposures=Exposure.choices, automation_levels=AutomationLevel.choices, list_url=LIST_URL,
        rules={"escalate_fully_automated": False})
    assert lenient.figure["data"][0]["z"][grave[0]][grave[1]] == 1

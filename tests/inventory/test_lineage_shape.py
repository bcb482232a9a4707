"""Grouping, focus and search of a lineage graph: the pure reshaping in apps.inventory.lineage_shape."""

from apps.inventory import charts, lineage, lineage_shape
from apps.inventory.lineage import (
    DataSetRecord,
    DeploymentRecord,
    Edge,
    ModelRecord,
    ProcessRecord,
    StepRecord,
    VersionRecord,
    build_graph,
)
from apps.inventory.lineage_shape import BY_PROCESS, BY_UNIT, GroupName


def portfolio():
    """Two units. Retail: models 1 and 2 (shared raw data 1), serving process 10; model 2 also serves Risk's
    process 20 through a deployment. Risk: model 3 on its own data, serving process 20 and 21 (declared)."""
    return build_graph(
        datasets=[DataSetRecord(1, "customers"), DataSetRecord(2, "retail features", derived=True),
                  DataSetRecord(3, "ledger")],
        steps=[StepRecord(5, "build retail features", inputs=(1,), output=2)],
        models=[ModelRecord(1, "Churn", unit="retail", processes=(10,)),
                ModelRecord(2, "Upsell", unit="retail", processes=(10,)),
                ModelRecord(3, "Fraud", unit="risk", processes=(20, 21), flag="Owner has left")],
        versions=[VersionRecord(11, 1, "Churn 1", training=(2,), status="compliant"),
                  VersionRecord(21, 2, "Upsell 1", training=(1,), status="suspended"),
                  VersionRecord(31, 3, "Fraud 1", training=(3,), status="attention")],
        deployments=[DeploymentRecord(7, 21, "upsell-endpoint", process=20)],
        processes=[ProcessRecord(10, "Retention", unit="retail"), ProcessRecord(20, "Payments", unit="risk"),
                   ProcessRecord(21, "Onboarding", unit="risk")],
    )


NAMES = {"retail": GroupName("Retail", "/lineage/?business_unit=retail"), "risk": GroupName("Risk", "/u/risk")}


def test_grouping_by_unit_leaves_one_node_per_unit_and_band():
    graph = lineage_shape.group(portfolio(), by=BY_UNIT, names=NAMES)

    assert sorted(n.key for n in graph.nodes) == [
        "group:data:retail", "group:data:risk", "group:models:retail", "group:models:risk",
        "group:processes:risk", "process:10"]
    assert graph.columns == {0: "Data and pipelines", 1: "Models", 2: "Business processes"}
    assert graph.node("group:models:retail").label == "Retail: 2 models"
    assert graph.node("group:data:retail").label == "Retail: 2 data sets"
    assert graph.node("group:data:retail").url == "/lineage/?business_unit=retail"


def test_a_unit_group_joins_its_own_processes_and_the_other_units_it_serves():
    graph = lineage_shape.group(portfolio(), by=BY_UNIT, names=NAMES)

    assert {(e.source, e.target) for e in graph.edges} == {
        ("group:data:retail", "group:models:retail"), ("group:data:risk", "group:models:risk"),
        ("group:models:retail", "process:10"), ("group:models:retail", "group:processes:risk"),
        ("group:models:risk", "group:processes:risk")}
    flows = {(e.source, e.target): e.kind for e in graph.edges}
    assert flows[("group:models:retail", "group:processes:risk")] == lineage.FLOW  # a deployment, not a declaration


def test_a_model_group_takes_the_worst_stored_state_and_says_how_many_are_in_each():
    graph = lineage_shape.group(portfolio(), by=BY_UNIT, names=NAMES)

    retail = graph.node("group:models:retail")
    assert retail.status == "suspended" and retail.governed
    assert "Governance state of the versions: 1 suspended, 1 compliant" in retail.detail
    assert "2 versions, 1 active deployment" in retail.detail
    risk = graph.node("group:models:risk")
    assert risk.status == "attention" and "with a warning" in risk.flag


def test_a_group_of_versions_never_computed_is_shown_as_not_computed():
    graph = build_graph(models=[ModelRecord(1, "A", unit="u"), ModelRecord(2, "B", unit="u")],
                        versions=[VersionRecord(11, 1, "A 1", status=""), VersionRecord(21, 2, "B 1",
                                                                                        status="compliant")])

    grouped = lineage_shape.group(graph, by=BY_UNIT, names={})

    assert grouped.node("group:models:u").status == "compliant"
    assert grouped.node("group:models:u").status_label == "Compliant"
    assert "1 compliant, 1 not computed yet" in grouped.node("group:models:u").detail[1]


def test_grouping_by_process_keeps_each_process_and_counts_shared_data_in_each_group():
    graph = lineage_shape.group(portfolio(), by=BY_PROCESS, names={})

    keys = {n.key for n in graph.nodes}
    assert {"process:10", "process:20", "process:21"} <= keys
    assert not any(k.startswith("group:processes") for k in keys)
    # Upsell serves Retention (declared) and Payments (deployed): its data counts in both groups.
    assert ("group:data:process:20", "group:models:process:20") in {(e.source, e.target) for e in graph.edges}
    assert graph.node("group:models:process:10").label == "process:10: 2 models"
    assert graph.node("group:models:process:20").label == "process:20: 2 models"


def test_a_model_serving_no_process_lands_in_a_named_group_of_its_own():
    graph = build_graph(models=[ModelRecord(1, "Lonely", unit="u")], versions=[VersionRecord(11, 1, "Lonely 1")])

    grouped = lineage_shape.group(graph, by=BY_PROCESS, names={})

    assert grouped.node("group:models:").label == "No business process: 1 model"


def test_grouping_shrinks_a_portfolio_of_hundreds_of_models_to_a_few_nodes():
    units = [f"unit-{u}" for u in range(8)]
    models, versions, datasets, processes = [], [], [], []
    for i in range(400):
        unit = units[i % 8]
        models.append(ModelRecord(i, f"Model {i}", unit=unit, processes=(1000 + i % 24,)))
        versions.append(VersionRecord(10_000 + i, i, f"Model {i} 1", training=(i % 40,), status="compliant"))
    datasets = [DataSetRecord(d, f"data {d}") for d in range(40)]
    processes = [ProcessRecord(1000 + p, f"Process {p}", unit=units[p % 8]) for p in range(24)]
    graph = build_graph(datasets=datasets, models=models, versions=versions, processes=processes)

    grouped = lineage_shape.group(graph, by=BY_UNIT, names={})

    assert len(graph.nodes) == 464
    assert len(grouped.nodes) == 24  # 8 units x (data, models, processes)
    assert max(len(nodes) for _, nodes in grouped.layers()) == 8


def test_focus_keeps_what_lies_within_n_steps_upstream_and_downstream_and_no_siblings():
    graph = portfolio()

    one = lineage_shape.neighbourhood(graph, "version:21", hops=1)
    two = lineage_shape.neighbourhood(graph, "version:21", hops=2)

    assert {n.key for n in one.nodes} == {"dataset:1", "version:21", "deployment:7", "process:10"}
    assert {n.key for n in two.nodes} == {"dataset:1", "version:21", "deployment:7", "process:10", "process:20"}
    assert "version:11" not in two  # Churn shares the customers data but is neither up- nor downstream of Upsell
    assert Edge("deployment:7", "process:20") in two.edges


def test_a_focused_graph_closes_up_empty_columns():
    graph = portfolio()

    focused = lineage_shape.neighbourhood(graph, "dataset:3", hops=1)

    assert {n.key for n in focused.nodes} == {"dataset:3", "version:31"}
    assert sorted(n.layer for n in focused.nodes) == [0, 1]
    assert focused.columns == {0: "Source data", 1: "Model versions"}


def test_find_matches_part_of_a_name_in_any_case_left_to_right():
    graph = portfolio()

    assert [n.key for n in lineage_shape.find(graph, "RETAIL")] == ["step:5", "dataset:2"]
    assert [n.key for n in lineage_shape.find(graph, "churn")] == ["version:11"]
    assert lineage_shape.find(graph, "  ") == []


def test_model_count_counts_a_model_once_whatever_its_versions():
    graph = build_graph(models=[ModelRecord(1, "A"), ModelRecord(2, "B")],
                        versions=[VersionRecord(11, 1, "A 1"), VersionRecord(12, 1, "A 2")])

    assert lineage_shape.model_count(graph) == 2


def test_the_figure_rings_highlighted_nodes_and_makes_groups_open_their_members():
    grouped = lineage_shape.group(portfolio(), by=BY_UNIT, names=NAMES)

    figure = charts.lineage_figure(grouped, highlight={"process:10"})

    traces = {t["name"]: t for t in figure["data"] if t["mode"] == "markers+text"}
    assert traces["Business process"]["marker"]["line"]["color"] == [charts.HIGHLIGHT_COLOUR]
    assert traces["Business process"]["text"] == ["<b>Retention</b>"]
    assert traces["Models (group): Suspended"]["customdata"] == ["/lineage/?business_unit=retail"]
    assert "Worst governance state: Suspended" in traces["Models (group): Suspended"]["hovertext"][0]
    assert "Click to show them all" in traces["Models (group): Suspended"]["hovertext"][0]
    assert traces["Models (group): Suspended"]["text"] == ["Retail: 2 models<br><i>Worst: Suspended</i>"]


def test_a_version_node_says_its_approval_in_words():
    graph = build_graph(models=[ModelRecord(1, "A")],
                        versions=[VersionRecord(11, 1, "A 1", status="compliant", approval="approved")])

    hover = charts.lineage_figure(graph)["data"][0]["hovertext"][0]

    assert "Approval: Approved" in hover and graph.node("version:11").approval_label == "Approved"

import json
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.inventory import charts, lineage, lineage_queries
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
from apps.inventory.models import DataSet, ModelGovernance, Stage, VersionGovernance
from tests.inventory.factories import (
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)

# --- The pure builder ----------------------------------------------------------------------

CHAIN = {
    "datasets": [DataSetRecord(1, "raw customers"), DataSetRecord(2, "features", derived=True)],
    "steps": [StepRecord(10, "build features", inputs=(1,), output=2)],
    "models": [ModelRecord(100, "Churn", stage="production", processes=(7,))],
    "versions": [VersionRecord(1000, 100, "Churn 1.0", stage="production", training=(2,))],
    "deployments": [DeploymentRecord(500, 1000, "Production: churn-endpoint", process=7)],
    "processes": [ProcessRecord(7, "Retention offers")],
}


def test_it_lays_out_a_chain_from_raw_data_to_the_business_process():
    graph = build_graph(**CHAIN)

    layers = {node.key: node.layer for node in graph.nodes}
    assert layers == {"dataset:1": 0, "step:10": 1, "dataset:2": 2, "version:1000": 3, "deployment:500": 4,
                      "process:7": 5}
    assert set(graph.edges) == {
        Edge("dataset:1", "step:10"), Edge("step:10", "dataset:2"), Edge("dataset:2", "version:1000"),
        Edge("version:1000", "deployment:500"), Edge("deployment:500", "process:7"),
    }
    assert graph.node("dataset:1").kind == lineage.RAW and graph.node("dataset:2").kind == lineage.DERIVED
    assert graph.columns == {0: "Source data", 1: "Pipeline steps", 2: "Derived data", 3: "Model versions",
                             4: "Deployments", 5: "Business processes"}
    assert graph.cycles == []


def test_it_places_deeper_pipelines_in_further_columns():
    graph = build_graph(
        datasets=[DataSetRecord(1, "raw"), DataSetRecord(2, "clean", derived=True),
                  DataSetRecord(3, "features", derived=True), DataSetRecord(4, "lookup")],
        steps=[StepRecord(10, "clean", inputs=(1,), output=2), StepRecord(11, "featurise", inputs=(2, 4), output=3)],
        models=[ModelRecord(100, "M")],
        versions=[VersionRecord(1000, 100, "M 1", training=(3, 4))],
    )

    layers = {node.key: node.layer for node in graph.nodes}
    assert layers["dataset:1"] == 0 and layers["dataset:4"] == 0
    assert layers["step:10"] == 1 and layers["dataset:2"] == 2
    assert layers["step:11"] == 3 and layers["dataset:3"] == 4
    assert layers["version:1000"] == 5


def test_it_cuts_a_pipeline_cycle_instead_of_looping():
    graph = build_graph(
        datasets=[DataSetRecord(1, "A", derived=True), DataSetRecord(2, "B", derived=True)],
        steps=[StepRecord(10, "A to B", inputs=(1,), output=2), StepRecord(11, "B to A", inputs=(2,), output=1)],
        models=[ModelRecord(100, "M")],
        versions=[VersionRecord(1000, 100, "M 1", training=(2,))],
    )

    assert graph.cycles in (["A"], ["B"])
    assert len(graph.nodes) == 5
    assert Edge("step:11", "dataset:1") in graph.edges and Edge("step:10", "dataset:2") in graph.edges
    data_layers = [n.layer for n in graph.nodes if n.kind != lineage.VERSION]
    assert graph.node("version:1000").layer > max(data_layers)


def test_it_draws_a_declared_link_only_for_processes_no_deployment_serves():
    records = dict(CHAIN, models=[ModelRecord(100, "Churn", stage="production", processes=(7, 8))],
                   processes=[ProcessRecord(7, "Retention offers"), ProcessRecord(8, "Pricing")])

    graph = build_graph(**records)

    declared = [e for e in graph.edges if e.kind == lineage.DECLARED]
    assert declared == [Edge("version:1000", "process:8", lineage.DECLARED)]


def test_it_hangs_declared_processes_from_the_version_at_the_models_stage():
    graph = build_graph(
        models=[ModelRecord(100, "M", stage="production", processes=(7,))],
        versions=[VersionRecord(1, 100, "M 2.0", stage="staging"), VersionRecord(2, 100, "M 1.0", stage="production")],
        processes=[ProcessRecord(7, "P")],
    )

    assert [e for e in graph.edges if e.kind == lineage.DECLARED] == [Edge("version:2", "process:7", "declared")]


def test_it_shows_a_model_without_versions_as_its_own_node():
    graph = build_graph(models=[ModelRecord(100, "New model", processes=(7,), flag="Owner has left")],
                        processes=[ProcessRecord(7, "P")])

    node = graph.node("model:100")
    assert node.kind == lineage.MODEL and node.flag == "Owner has left"
    assert graph.edges == [Edge("model:100", "process:7", lineage.DECLARED)]


def test_it_drops_links_to_records_it_was_not_given():
    graph = build_graph(datasets=[DataSetRecord(1, "raw")], steps=[StepRecord(10, "s", inputs=(1, 99), output=98)])

    assert graph.edges == [Edge("dataset:1", "step:10")]


def test_the_layout_does_not_depend_on_record_order():
    records = {
        "datasets": [DataSetRecord(i, f"raw {i}") for i in range(1, 6)],
        "models": [ModelRecord(100 + i, f"model {i}") for i in range(5)],
        "versions": [VersionRecord(1000 + i, 100 + i, f"model {i} v1", training=(1 + (i * 3) % 5, 1 + i))
                     for i in range(5)],
    }
    shuffled = {k: random.Random(7).sample(v, len(v)) for k, v in records.items()}

    first, second = build_graph(**records), build_graph(**shuffled)

    assert first.nodes == second.nodes and first.edges == second.edges
    ys = [n.y for n in first.nodes if n.layer == 0]
    assert sorted(ys) == [-2, -1, 0, 1, 2]


def test_the_figure_has_a_clickable_url_for_every_node():
    graph = build_graph(**{**CHAIN, "processes": [ProcessRecord(7, "Retention <b>offers</b>", url="/p/7/")]})

    figure = charts.lineage_figure(graph)

    node_traces = [t for t in figure["data"] if t["mode"] == "markers+text"]
    assert sum(len(t["customdata"]) for t in node_traces) == len(graph.nodes)
    process_trace = next(t for t in node_traces if t["name"] == "Business process")
    assert process_trace["customdata"] == ["/p/7/"]
    assert "&lt;b&gt;offers" in process_trace["hovertext"][0]


# --- Selectors ------------------------------------------------------------------------------

def _chain(*, team=None, process=None, raw=None):
    """raw -> step -> derived -> version -> production deployment -> process; returns the objects."""
    raw = raw or DataSetFactory()
    step = PipelineStepFactory(inputs=[raw])
    process = process or BusinessProcessFactory()
    model = MLModelFactory(**({"team": team} if team else {}), stage=Stage.PRODUCTION)
    version = ModelVersionFactory(model=model, stage=Stage.PRODUCTION, training_datasets=[step.output])
    deployment = DeploymentFactory(version=version, business_process=process)
    return {"raw": raw, "step": step, "derived": step.output, "model": model, "version": version,
            "deployment": deployment, "process": process}


@pytest.mark.django_db
def test_it_walks_a_models_lineage_from_the_database():
    chain = _chain()

    graph = lineage_queries.lineage_for_model(model=chain["model"])

    keys = [lineage.dataset_key(chain["raw"].pk), lineage.step_key(chain["step"].pk),
            lineage.dataset_key(chain["derived"].pk), lineage.version_key(chain["version"].pk),
            lineage.deployment_key(chain["deployment"].pk), lineage.process_key(chain["process"].pk)]
    assert [graph.node(k).layer for k in keys] == [0, 1, 2, 3, 4, 5]
    assert {(e.source, e.target) for e in graph.edges} == set(zip(keys, keys[1:], strict=False))
    assert graph.node(keys[0]).url == chain["raw"].get_absolute_url()


@pytest.mark.django_db
def test_it_stops_walking_a_cyclic_pipeline_in_the_database():
    a, b = DataSetFactory(kind=DataSet.Kind.DERIVED), DataSetFactory(kind=DataSet.Kind.DERIVED)
    PipelineStepFactory(inputs=[a], output=b)
    PipelineStepFactory(inputs=[b], output=a)
    version = ModelVersionFactory(training_datasets=[b])

    graph = lineage_queries.lineage_for_model(model=version.model)

    assert graph.cycles
    assert {n.kind for n in graph.nodes} == {lineage.DERIVED, lineage.STEP, lineage.VERSION}
    assert len(graph.nodes) == 5


@pytest.mark.django_db
def test_it_flags_a_deployment_outside_its_validated_environment_and_an_owner_who_left():
    chain = _chain()
    chain["model"].accountable_owner.is_active = False
    chain["model"].accountable_owner.save(update_fields=["is_active"])
    other = DeploymentFactory(version=chain["version"], runtime_environment={
        "python": "3.12.1", "os": "Linux", "packages": {"scikit-learn": "1.6.1", "numpy": "2.2.0"}})

    graph = lineage_queries.lineage_for_model(model=chain["model"])

    assert "Python: validated 3.11.7, runs 3.12.1" in graph.node(f"deployment:{other.pk}").flag
    assert graph.node(f"deployment:{chain['deployment'].pk}").flag == ""
    assert "has left" in graph.node(f"version:{chain['version'].pk}").flag


@pytest.mark.django_db
def test_a_process_lineage_holds_the_models_that_serve_it_and_no_others():
    process = BusinessProcessFactory()
    deployed = _chain(process=process)
    declared = MLModelFactory(business_processes=[process])
    unrelated = _chain()

    graph = lineage_queries.lineage_for_process(process=process)

    assert f"version:{deployed['version'].pk}" in graph
    assert f"model:{declared.pk}" in graph
    assert f"version:{unrelated['version'].pk}" not in graph
    assert f"dataset:{deployed['raw'].pk}" in graph


@pytest.mark.django_db
def test_a_dataset_lineage_reaches_downstream_models_and_upstream_sources():
    chain = _chain()
    source = DataSetFactory()
    upstream = PipelineStepFactory(inputs=[source], output=chain["raw"])
    unrelated = _chain()

    graph = lineage_queries.lineage_for_dataset(dataset=chain["raw"])

    for key in (f"dataset:{source.pk}", f"step:{upstream.pk}", f"dataset:{chain['derived'].pk}",
                f"version:{chain['version'].pk}", f"process:{chain['process'].pk}"):
        assert key in graph, key
    assert f"version:{unrelated['version'].pk}" not in graph


@pytest.mark.django_db
def test_the_portfolio_lineage_can_be_narrowed_to_one_business_unit():
    team = TeamFactory()
    mine, theirs = _chain(team=team), _chain()

    graph = lineage_queries.lineage_for_portfolio(business_unit=team.business_unit)

    assert f"version:{mine['version'].pk}" in graph
    assert f"version:{theirs['version'].pk}" not in graph


def _queries(selector, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        selector(**kwargs)
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_the_lineage_selectors_cost_the_same_number_of_queries_for_5_or_30_models():
    counts = {}
    for n in (5, 30):
        team, process, raw = TeamFactory(), BusinessProcessFactory(), DataSetFactory()
        chains = [_chain(team=team, process=process, raw=raw) for _ in range(n)]
        for chain in chains:
            chain["model"].business_processes.add(BusinessProcessFactory())
        counts[n] = (
            _queries(lineage_queries.lineage_for_portfolio, business_unit=team.business_unit),
            _queries(lineage_queries.lineage_for_process, process=process),
            _queries(lineage_queries.lineage_for_dataset, dataset=raw),
            _queries(lineage_queries.lineage_for_model, model=chains[0]["model"]),
        )

    assert counts[5] == counts[30], counts
    assert max(counts[30]) <= 12, counts


# --- Pages ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_model_lineage_page_embeds_the_graph(client_as):
    chain = _chain()

    response = client_as("executive").get(reverse("inventory:model-lineage", kwargs={"slug": chain["model"].slug}))

    assert response.status_code == 200
    figure = json.loads(response.content.decode().split('id="figure-lineage" type="application/json">')[1]
                        .split("</script>")[0])
    urls = [url for t in figure["data"] if "customdata" in t for url in t["customdata"]]
    assert chain["version"].get_absolute_url() in urls
    assert 'data-figure-id="figure-lineage"' in response.content.decode()
    assert "vendor/plotly/plotly-portal-4.1.1.min.js" in response.content.decode()


@pytest.mark.django_db
def test_the_model_lineage_page_is_404_for_an_unknown_model(client_as):
    response = client_as("executive").get(reverse("inventory:model-lineage", kwargs={"slug": "nope"}))

    assert response.status_code == 404


@pytest.mark.django_db
def test_the_lineage_page_follows_the_process_filter(client_as):
    process = BusinessProcessFactory()
    served, other = _chain(process=process), _chain()

    response = client_as("reviewer").get(reverse("inventory:lineage"), {"process": process.slug})

    graph = response.context["graph"]
    assert f"version:{served['version'].pk}" in graph and f"version:{other['version'].pk}" not in graph


@pytest.mark.django_db
def test_the_lineage_page_reports_an_unknown_filter_instead_of_guessing(client_as):
    response = client_as("executive").get(reverse("inventory:lineage"), {"business_unit": "no-such-unit"})

    assert response.status_code == 200
    assert response.context["graph"] is None
    assert response.context["form"].errors["business_unit"]


@pytest.mark.django_db
def test_the_lineage_page_shows_an_empty_state_without_models(client_as):
    response = client_as("executive").get(reverse("inventory:lineage"))

    assert "No lineage recorded yet" in response.content.decode()


# --- Governance state on the graph -----------------------------------------------------------

def test_model_and_version_nodes_carry_their_stored_state_and_data_nodes_none():
    graph = build_graph(**{**CHAIN, "versions": [
        VersionRecord(1000, 100, "Churn 1.0", stage="production", training=(2,), status="suspended", health="breach")]})

    version = graph.node("version:1000")
    assert (version.status_label, version.health_label) == ("Suspended", "Breach")
    assert graph.node("dataset:1").governed is False and graph.node("dataset:1").status_label == ""


def test_the_figure_colours_versions_by_state_with_one_legend_entry_each():
    graph = build_graph(
        models=[ModelRecord(100, "M"), ModelRecord(101, "Fresh")],
        versions=[VersionRecord(1, 100, "M 1", status="suspended", health="breach"),
                  VersionRecord(2, 100, "M 2", status="compliant", health="not_monitored")],
    )

    figure = charts.lineage_figure(graph)

    traces = {t["name"]: t for t in figure["data"] if t["mode"] == "markers+text"}
    assert set(traces) == {"Model version: Suspended", "Model version: Compliant",
                           "Model (no version yet): not computed yet"}
    suspended = traces["Model version: Suspended"]
    assert suspended["marker"]["color"] == charts.STATUS_COLOURS["suspended"]
    assert "Governance: Suspended · Health: Breach" in suspended["hovertext"][0]
    assert traces["Model version: Compliant"]["marker"]["color"] == charts.STATUS_COLOURS["compliant"]


@pytest.mark.django_db
def test_the_lineage_reads_each_versions_stored_state(client_as):
    chain = _chain()
    VersionGovernance.objects.filter(pk=chain["version"].pk).update(status="suspended", health="breach")
    bare = MLModelFactory(name="Bare", business_processes=[chain["process"]])
    ModelGovernance.objects.filter(pk=bare.pk).update(status="non_compliant", health="no_evidence")

    response = client_as("executive").get(reverse("inventory:lineage"), {"process": chain["process"].slug})

    graph = response.context["graph"]
    assert graph.node(f"version:{chain['version'].pk}").status == "suspended"
    assert graph.node(f"model:{bare.pk}").status == "non_compliant"
    content = response.content.decode()
    assert '<span class="gov-badge gov-suspended">Suspended</span>' in content and "Health: Breach" in content
    assert "Model version: Suspended" in content

"""The portfolio lineage page at size: grouped by default, every node on request, search, focus, stage filter."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.inventory import views_lineage
from apps.inventory.models import Stage, VersionGovernance
from tests.inventory.factories import (
    BusinessProcessFactory,
    BusinessUnitFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_groups(monkeypatch):
    """Group above 3 models, so a handful of factory rows stands for a portfolio of hundreds."""
    monkeypatch.setattr(views_lineage, "GROUP_ABOVE", 3)


def _portfolio(models_per_unit: int, *, units=("Retail", "Risk"), stage=Stage.PRODUCTION):
    """Per unit: one process, one pipeline, and ``models_per_unit`` models trained on its output and deployed."""
    made = {}
    for unit_name in units:
        unit = BusinessUnitFactory(name=unit_name, slug=unit_name.lower())
        team = TeamFactory(business_unit=unit)
        process = BusinessProcessFactory(business_unit=unit, name=f"{unit_name} decisions",
                                         slug=f"{unit_name.lower()}-decisions")
        step = PipelineStepFactory()
        versions = []
        for i in range(models_per_unit):
            model = MLModelFactory(team=team, name=f"{unit_name} model {i}", stage=stage)
            version = ModelVersionFactory(model=model, stage=stage, training_datasets=[step.output])
            DeploymentFactory(version=version, business_process=process)
            versions.append(version)
        made[unit_name] = {"unit": unit, "process": process, "step": step, "versions": versions}
    return made


def _figure(response) -> dict:
    return json.loads(response.content.decode().split('id="figure-lineage" type="application/json">')[1]
                      .split("</script>")[0])


def _urls(figure) -> set[str]:
    return {url for trace in figure["data"] if "customdata" in trace for url in trace["customdata"]}


def test_a_portfolio_above_the_limit_is_grouped_by_unit_and_ships_no_version(client_as, small_groups):
    made = _portfolio(3)

    response = client_as("executive").get(reverse("inventory:lineage"))

    graph = response.context["graph"]
    assert response.context["grouped_by"] == "unit"
    assert sorted(n.key for n in graph.nodes) == [
        "group:data:retail", "group:data:risk", "group:models:retail", "group:models:risk",
        f"process:{made['Retail']['process'].pk}", f"process:{made['Risk']['process'].pk}"]
    urls = _urls(_figure(response))
    assert "/inventory/lineage/?business_unit=retail" in urls
    assert not any(v.get_absolute_url() in urls for unit in made.values() for v in unit["versions"])
    content = response.content.decode()
    assert "6 models, more than 3: grouped by business unit into 6 nodes." in content
    assert 'href="/inventory/lineage/?view=all"' in content


def test_every_node_is_shown_when_asked(client_as, small_groups):
    made = _portfolio(2)

    response = client_as("executive").get(reverse("inventory:lineage"), {"view": "all"})

    assert response.context["grouped_by"] == ""
    urls = _urls(_figure(response))
    assert all(v.get_absolute_url() in urls for unit in made.values() for v in unit["versions"])


def test_a_small_portfolio_is_shown_whole_without_asking(client_as):
    made = _portfolio(1)

    response = client_as("executive").get(reverse("inventory:lineage"))

    assert response.context["grouped_by"] == ""
    assert f"version:{made['Risk']['versions'][0].pk}" in response.context["graph"]


def test_a_large_unit_is_grouped_by_process_and_each_group_opens_its_process(client_as, small_groups):
    made = _portfolio(4)
    retail = made["Retail"]

    response = client_as("executive").get(reverse("inventory:lineage"), {"business_unit": "retail"})

    graph = response.context["graph"]
    assert response.context["grouped_by"] == "process"
    group = graph.node(f"group:models:process:{retail['process'].pk}")
    assert group.label == "Retail decisions: 4 models"
    assert group.url == "/inventory/lineage/?business_unit=retail&process=retail-decisions"
    assert f"version:{made['Risk']['versions'][0].pk}" not in response.context["graph"]


def test_a_data_set_feeding_many_models_is_grouped_by_unit_too(client_as, small_groups):
    made = _portfolio(2)
    shared = made["Retail"]["step"].output
    for version in made["Risk"]["versions"]:
        version.training_datasets.add(shared)

    response = client_as("executive").get(reverse("inventory:lineage"), {"dataset": shared.slug})

    assert response.context["grouped_by"] == "unit"
    assert {"group:models:retail", "group:models:risk"} <= {n.key for n in response.context["graph"].nodes}


def test_a_grouped_graph_still_warns_about_a_pipeline_cycle(client_as, small_groups):
    made = _portfolio(2)
    step = made["Retail"]["step"]
    PipelineStepFactory(inputs=[step.output], output=step.inputs.get())

    response = client_as("executive").get(reverse("inventory:lineage"))

    assert response.context["grouped_by"] == "unit"
    assert "The pipeline loops back on itself" in response.content.decode()


def test_a_group_is_coloured_by_the_worst_stored_state_and_says_it_in_words(client_as, small_groups):
    made = _portfolio(4, units=("Retail",))
    VersionGovernance.objects.filter(pk=made["Retail"]["versions"][2].pk).update(status="suspended")

    response = client_as("executive").get(reverse("inventory:lineage"))

    assert response.context["graph"].node("group:models:retail").status == "suspended"
    content = response.content.decode()
    assert 'Worst:</span> <span class="gov-badge gov-suspended">Suspended</span>' in content
    assert "1 suspended" in content


def test_the_stage_filter_keeps_only_models_at_that_stage(client_as):
    production = _portfolio(1, units=("Retail",))["Retail"]["versions"][0]
    development = _portfolio(1, units=("Labs",), stage=Stage.DEVELOPMENT)["Labs"]["versions"][0]

    response = client_as("executive").get(reverse("inventory:lineage"), {"stage": "development"})

    graph = response.context["graph"]
    assert f"version:{development.pk}" in graph and f"version:{production.pk}" not in graph


def test_an_unknown_stage_is_reported_not_guessed(client_as):
    response = client_as("executive").get(reverse("inventory:lineage"), {"stage": "retired"})

    assert response.context["graph"] is None
    assert "Select a valid choice" in response.context["form"].errors["stage"][0]


def test_search_lists_the_matching_nodes_with_a_focus_link_even_when_grouped(client_as, small_groups):
    made = _portfolio(3)
    wanted = made["Risk"]["versions"][1]

    response = client_as("executive").get(reverse("inventory:lineage"), {"q": "risk MODEL 1"})

    matches = response.context["matches"]
    assert [node.key for node, _ in matches] == [f"version:{wanted.pk}"]
    assert matches[0][1] == f"/inventory/lineage/?q=risk+MODEL+1&focus=version%3A{wanted.pk}&hops=2"
    assert "1 node named like “risk MODEL 1”" in response.content.decode()


def test_search_highlights_the_match_on_the_full_graph(client_as):
    made = _portfolio(1)
    wanted, other = made["Retail"]["versions"][0], made["Risk"]["versions"][0]

    response = client_as("executive").get(reverse("inventory:lineage"), {"q": "Retail model"})

    texts = {url: text for t in _figure(response)["data"] if t["name"].startswith("Model version")
             for url, text in zip(t["customdata"], t["text"], strict=True)}
    assert texts[wanted.get_absolute_url()].startswith("<b>")
    assert not texts[other.get_absolute_url()].startswith("<b>")


def test_search_says_when_nothing_matches(client_as):
    _portfolio(1)

    response = client_as("executive").get(reverse("inventory:lineage"), {"q": "zebra"})

    assert "No node of this selection has that in its name." in response.content.decode()


def test_focus_shows_a_nodes_neighbourhood_in_a_link_to_share(client_as, small_groups):
    made = _portfolio(3)
    version = made["Retail"]["versions"][0]
    deployment = version.deployments.get()

    response = client_as("executive").get(reverse("inventory:lineage"), {"focus": f"version:{version.pk}",
                                                                          "hops": "1"})

    graph = response.context["graph"]
    assert {n.key for n in graph.nodes} == {f"version:{version.pk}", f"deployment:{deployment.pk}",
                                            f"dataset:{made['Retail']['step'].output_id}"}
    assert response.context["grouped_by"] == ""
    assert "Focused on" in response.content.decode()


def test_focus_depth_reaches_further_upstream(client_as):
    made = _portfolio(1, units=("Retail",))
    version, step = made["Retail"]["versions"][0], made["Retail"]["step"]

    response = client_as("executive").get(reverse("inventory:lineage"), {"focus": f"version:{version.pk}",
                                                                          "hops": "3"})

    assert f"dataset:{step.inputs.get().pk}" in response.context["graph"]
    assert f"process:{made['Retail']['process'].pk}" in response.context["graph"]


def test_focus_on_a_node_outside_the_selection_says_so(client_as):
    made = _portfolio(1)
    risk_version = made["Risk"]["versions"][0]

    response = client_as("executive").get(reverse("inventory:lineage"),
                                          {"business_unit": "retail", "focus": f"version:{risk_version.pk}"})

    assert "This node is not in the current selection" in response.content.decode()
    assert f"version:{risk_version.pk}" not in response.context["graph"]


def test_a_malformed_focus_is_rejected_with_a_message(client_as):
    response = client_as("executive").get(reverse("inventory:lineage"), {"focus": "version:abc"})

    assert response.context["graph"] is None
    assert "This is not a node of the lineage graph" in response.content.decode()


def test_the_model_lineage_page_links_each_node_to_its_focus_in_the_portfolio(client_as):
    version = _portfolio(1, units=("Retail",))["Retail"]["versions"][0]

    response = client_as("executive").get(reverse("inventory:model-lineage", kwargs={"slug": version.model.slug}))

    assert f'href="/inventory/lineage/?focus=version%3A{version.pk}&amp;hops=2"' in response.content.decode()


def _count(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("inventory:lineage"), params).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("params", [{}, {"view": "all"}, {"business_unit": "retail"}, {"q": "model 1"},
                                    {"stage": "production", "focus": "process:PROCESS", "hops": "2"}])
def test_the_page_costs_the_same_queries_for_4_or_20_models(client_as, monkeypatch, params):
    monkeypatch.setattr(views_lineage, "GROUP_ABOVE", 1)  # both sizes grouped (one query more than every node)
    client = client_as("executive")
    counts = []
    for size, units in ((2, ("Retail", "Risk")), (8, ("Retail2", "Risk2"))):
        made = _portfolio(size, units=units)
        process = made[units[0]]["process"]
        resolved = {k: v.replace("PROCESS", str(process.pk)).replace("retail", units[0].lower())
                    for k, v in params.items()}
        counts.append(_count(client, resolved))

    assert counts[0] == counts[1], counts
    assert counts[1] <= 25, counts

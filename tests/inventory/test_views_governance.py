"""The inventory pages read the stored governance state (issue 14): the list, the version page, the process page.

Each test overwrites a stored state with values no computation from the factories' facts would give, so what a
page shows can only come from the stored row, never from re-deriving it.
"""

import csv
import io
import re

import pytest
from django.urls import reverse

from apps.governance import figures
from apps.inventory import governance as g
from apps.inventory.models import ModelGovernance, VersionGovernance
from tests.inventory.factories import (
    BusinessProcessFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
)

SUSPENSION = ("Monitoring found a breach on 02 Mar 2026; its tier (critical) suspends the approval until a reviewer "
              "re-approves the version or records a risk acceptance.")


def reason(code: str, level: str, message: str, *, blocks_gate: bool = False) -> dict:
    return {"code": code, "level": level, "message": message, "fix": g.FIX_ACCEPTANCE, "url": "/fix/",
            "blocks_gate": blocks_gate, "version": ""}


def store(obj, status: str, *, health=g.HEALTHY, approval=g.APPROVED, tier="high", reasons=(), **extra):
    """Overwrite the stored state of a model or version, as ``apps.governance.services`` would store it."""
    row_class = VersionGovernance if hasattr(obj, "model_id") else ModelGovernance
    reasons = list(reasons)
    row_class.objects.filter(pk=obj.pk).update(
        status=status, health=health, approval=approval, tier=tier, reasons=reasons, rank=g.ORDER[status],
        reason_codes=f",{','.join(sorted({r['code'] for r in reasons}))}," if reasons else "", **extra)
    if row_class is ModelGovernance:
        figures.store([obj.pk])  # the rank the list sorts by, the red flags and the dashboard's tallies
    return row_class.objects.get(pk=obj.pk)


def suspended(model):
    return store(model, g.SUSPENDED, health=g.BREACH, approval=g.APPROVAL_SUSPENDED, tier="critical",
                 reasons=[reason("approval_suspended", g.SUSPENDED, SUSPENSION, blocks_gate=True)])


def names(response, key="models") -> list[str]:
    return [m.name for m in response.context[key]]


# --- Model list ------------------------------------------------------------------------------

def test_the_list_shows_each_models_stored_state_health_approval_and_tier(client_as):
    suspended(MLModelFactory(name="Scorer"))
    store(MLModelFactory(name="Pricer"), g.ATTENTION, health=g.NO_EVIDENCE, approval=g.MISSING, tier="")

    content = client_as("executive").get(reverse("inventory:index")).content.decode()

    rows = {name: row for row in content.split("<tr>")[2:] for name in ("Scorer", "Pricer") if f">{name}</a>" in row}
    assert '<span class="gov-badge gov-suspended">Suspended</span>' in rows["Scorer"]
    assert '<span class="gov-badge health-breach">Breach</span>' in rows["Scorer"]
    assert "<td>Suspended</td>" in rows["Scorer"] and "<td>Critical</td>" in rows["Scorer"]
    assert SUSPENSION in rows["Scorer"]
    assert '<span class="gov-badge gov-attention">Needs attention</span>' in rows["Pricer"]
    assert "No evidence" in rows["Pricer"] and "<td>Not approved</td>" in rows["Pricer"]
    assert "<td>Not assessed</td>" in rows["Pricer"]


def test_a_model_whose_state_was_never_computed_says_so_on_the_list(client_as):
    MLModelFactory(name="Fresh", governance=False)

    content = client_as("executive").get(reverse("inventory:index")).content.decode()

    assert '<span class="gov-badge gov-unknown">Not computed yet</span>' in content


def test_the_filter_bar_offers_governance_health_approval_reason_and_tier(client_as):
    content = client_as("reviewer").get(reverse("inventory:index")).content.decode()

    for name in ("governance", "health", "approval", "reason", "tier"):
        assert re.search(rf'<select name="{name}"', content), name
    assert '<option value="suspended">Suspended</option>' in content
    assert '<option value="no_evidence">No evidence</option>' in content


@pytest.mark.parametrize("query", [
    {"governance": "suspended"}, {"health": "breach"}, {"approval": "suspended"}, {"reason": "approval_suspended"},
    {"tier": "critical"},
])
def test_it_filters_by_the_stored_state(client_as, query):
    suspended(MLModelFactory(name="Scorer"))
    store(MLModelFactory(name="Pricer"), g.COMPLIANT, tier="low")

    response = client_as("executive").get(reverse("inventory:index"), query)

    assert names(response) == ["Scorer"]


def test_it_sorts_by_governance_severity_both_ways(client_as):
    for name, status in (("A", g.ATTENTION), ("B", g.SUSPENDED), ("C", g.COMPLIANT), ("D", g.NON_COMPLIANT)):
        store(MLModelFactory(name=name), status)
    client = client_as("executive")

    worst_first = client.get(reverse("inventory:index"), {"sort": "-governance"})
    best_first = client.get(reverse("inventory:index"), {"sort": "governance"})

    assert names(worst_first) == ["B", "D", "A", "C"] and names(best_first) == ["C", "A", "D", "B"]
    assert 'aria-sort="descending"' in worst_first.content.decode()


@pytest.mark.parametrize("count", [3, 20])
def test_the_list_with_its_states_costs_a_constant_number_of_queries(
        client_as, django_assert_max_num_queries, count):
    for model in MLModelFactory.create_batch(count):
        suspended(model)
    client = client_as("executive")

    with django_assert_max_num_queries(10):
        response = client.get(reverse("inventory:index"))

    assert response.content.decode().count("gov-badge gov-suspended") == count


def test_the_export_carries_the_stored_state_in_the_filters_values(client_as):
    suspended(MLModelFactory(name="Scorer"))
    store(MLModelFactory(name="Pricer"), g.ATTENTION, health=g.NO_EVIDENCE, approval=g.MISSING, tier="")
    MLModelFactory(name="Fresh", governance=False)

    response = client_as("executive").get(reverse("inventory:export"))

    rows = {r["name"]: (r["governance"], r["health"], r["approval"], r["tier"], r["reason_codes"])
            for r in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows == {"Scorer": ("suspended", "breach", "suspended", "critical", "approval_suspended"),
                    "Pricer": ("attention", "no_evidence", "missing", "unassessed", ""),
                    "Fresh": ("", "", "", "", "")}


def test_the_export_honours_the_governance_filter(client_as):
    suspended(MLModelFactory(name="Scorer"))
    store(MLModelFactory(name="Pricer"), g.COMPLIANT)

    response = client_as("executive").get(reverse("inventory:export"), {"governance": "suspended"})

    assert [r["name"] for r in csv.DictReader(io.StringIO(response.content.decode()))] == ["Scorer"]


# --- Version page ----------------------------------------------------------------------------

def test_the_version_page_shows_the_versions_stored_state_and_its_blockers(client_as):
    version = ModelVersionFactory()
    state = suspended(version)

    content = client_as("executive").get(version.get_absolute_url()).content.decode()

    assert "Governance state of this version" in content
    assert '<span class="gov-badge gov-suspended">Suspended</span>' in content and SUSPENSION in content
    assert "Ready for production: <strong>No</strong>" in content and not state.gate_open
    assert f'<ul class="gate-problems"><li>{SUSPENSION}</li></ul>' in content


def test_the_version_page_says_ready_for_production_when_the_stored_gate_is_open(client_as):
    version = ModelVersionFactory()
    store(version, g.ATTENTION, gate_open=True,
          reasons=[reason("assessment_due_soon", g.ATTENTION, "Its risk re-assessment is due soon.")])

    content = client_as("executive").get(version.get_absolute_url()).content.decode()

    assert "Ready for production: <strong>Yes</strong>" in content and 'class="gate-problems"' not in content


def test_a_retired_version_is_not_offered_as_ready_for_production(client_as):
    version = ModelVersionFactory(stage="retired")

    content = client_as("executive").get(version.get_absolute_url()).content.decode()

    assert "Governance state of this version" in content and "Ready for production" not in content


def test_the_stage_form_refuses_production_with_the_blockers_the_page_lists(client_as):
    """No assessment, no approval: the real gate refuses, in the sentences the page listed before the attempt."""
    scientist = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[scientist.user])
    page = scientist.get(version.get_absolute_url())
    listed = page.context["gate_blockers"]
    assert listed == [r["message"] for r in VersionGovernance.objects.get(pk=version.pk).reasons if r["blocks_gate"]]
    assert len(listed) == 2 and "the 2 reasons under" in page.content.decode()

    refused = scientist.post(version.get_absolute_url(), {"stage": "production"})

    assert refused.status_code == 409
    error = refused.context["stage_form"].errors["stage"][0]
    assert all(sentence in error for sentence in listed)
    assert refused.context["gate_blockers"] == listed


def test_a_gate_refusal_leads_the_page_with_a_banner_linking_each_missing_step(client_as):
    scientist = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[scientist.user])
    assert "gate-refusal" not in scientist.get(version.get_absolute_url()).content.decode()

    page = scientist.post(version.get_absolute_url(), {"stage": "production"}).content.decode()

    banner = page[page.index('id="gate-refusal"'):page.index('id="governance"')]  # above everything else
    assert f"The production gate refused {version}" in banner
    assert f'href="{reverse("risk:model", args=[version.model.slug])}">Assess the risk' in banner
    assert f'href="{reverse("reviews:version", args=[version.pk])}">Open or continue a review' in banner


def test_a_gated_production_deployment_shows_the_banner_too(client_as):
    scientist = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[scientist.user])
    response = scientist.post(reverse("inventory:deployment-create", args=[version.model.slug, version.version]),
                              {"environment": "production", "kind": "endpoint", "target": "x"})
    page = response.content.decode()
    assert response.status_code == 409 and page.index('id="gate-refusal"') < page.index('class="card service-form"')
    assert "Assess the risk" in page and "Open or continue a review" in page


# --- Business process page -------------------------------------------------------------------

@pytest.fixture
def process_with_models():
    """Four models drive the process: three name it, one only serves it through an active deployment."""
    process = BusinessProcessFactory(slug="loan-approval")
    suspended(MLModelFactory(name="Scorer", business_processes=[process]))
    store(MLModelFactory(name="Pricer", business_processes=[process]), g.ATTENTION)
    store(MLModelFactory(name="Ranker", business_processes=[process]), g.ATTENTION)
    served = DeploymentFactory(version__model__name="Served", business_process=process).version.model
    suspended(served)
    store(MLModelFactory(name="Elsewhere"), g.SUSPENDED)
    return process


def test_the_process_page_rolls_up_its_models_stored_states(client_as, process_with_models):
    response = client_as("executive").get(process_with_models.get_absolute_url())

    assert response.context["rollup"].counts == {"compliant": 0, "attention": 2, "non_compliant": 0, "suspended": 2}
    content = response.content.decode()
    assert re.search(r'id="rollup-worst">\s*Suspended\s*</strong>', content)
    assert '<h2 id="rollup-title">Governance of its models <span class="gov-badge gov-suspended">' in content


def test_each_rollup_count_links_to_a_model_list_of_that_many_models(client_as, process_with_models):
    client = client_as("executive")
    links = client.get(process_with_models.get_absolute_url()).context["rollup_links"]

    for link in links:
        listed = client.get(link["url"])
        assert listed.context["page_obj"].paginator.count == link["count"], link
        assert {m.governance.status for m in listed.context["models"]} <= {link["status"]}
    served = client.get(next(link["url"] for link in links if link["status"] == "suspended"))
    assert sorted(names(served)) == ["Scorer", "Served"]


def test_the_process_page_shows_each_models_state_and_reason(client_as, process_with_models):
    content = client_as("executive").get(process_with_models.get_absolute_url()).content.decode()

    scorer = next(row for row in content.split("<tr>") if ">Scorer</a>" in row)
    assert '<span class="gov-badge gov-suspended">Suspended</span>' in scorer and SUSPENSION in scorer
    assert '<span class="gov-badge health-breach">Breach</span>' in scorer


def test_a_process_without_models_has_no_rollup(client_as):
    content = client_as("executive").get(BusinessProcessFactory().get_absolute_url()).content.decode()

    assert "No model drives it" in content and "rollup-worst" not in content


@pytest.mark.parametrize("count", [2, 12])
def test_the_process_page_with_its_rollup_costs_a_constant_number_of_queries(
        client_as, django_assert_max_num_queries, count):
    process = BusinessProcessFactory()
    for model in MLModelFactory.create_batch(count, business_processes=[process]):
        suspended(model)
    client = client_as("executive")

    with django_assert_max_num_queries(11):  # + its money at risk, from the tallies
        response = client.get(process.get_absolute_url())

    assert response.context["rollup"].counts["suspended"] == count


def test_the_process_list_counts_the_models_its_page_lists(client_as, process_with_models):
    client = client_as("executive")

    listed = client.get(reverse("inventory:process-list"), {"sort": "-models"}).context["processes"]

    counts = {p.slug: p.models_count for p in listed}
    assert counts["loan-approval"] == len(client.get(process_with_models.get_absolute_url()).context["rows"]) == 4

import csv
import io

import pytest
from django.urls import reverse

from apps.compliance import selectors
from apps.core.models import AuditEvent
from tests.compliance.factories import ClassificationFactory
from tests.inventory.factories import BusinessUnitFactory, MLModelFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_the_model_page_lists_each_applicable_control_with_evidence_and_fixes(client_as):
    classification = ClassificationFactory()
    model = classification.model
    response = client_as("executive").get(reverse("compliance:model", kwargs={"slug": model.slug}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "EU-9 Risk management system" in body and "Art. 9" in body
    assert "Have a reviewer assess the model&#x27;s risk." in body  # what would satisfy it
    assert reverse("risk:model", kwargs={"slug": model.slug}) in body  # the evidence, linked
    assert "Change the classification" not in body  # executives read


def test_an_unclassified_model_shows_no_high_risk_obligations(client_as):
    model = MLModelFactory()
    body = client_as("reviewer").get(reverse("compliance:model", kwargs={"slug": model.slug})).content.decode()
    assert "Not classified yet" in body and "EU-9 " not in body and "GOVERN 1" in body
    assert reverse("compliance:classify", kwargs={"slug": model.slug}) in body


def test_classifying_a_model_saves_audits_and_redirects(client_as):
    model = MLModelFactory()
    client = client_as("reviewer")
    response = client.post(reverse("compliance:classify", kwargs={"slug": model.slug}), {
        "eu_category": "high_risk", "annex_iii_area": "essential_services", "role": "provider",
        "rationale": "Credit scoring."})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="model.classified")
    assert (event.object_id, event.changes["eu_category"]) == (str(model.pk), [None, "high_risk"])


def test_a_high_risk_classification_without_an_area_is_refused_with_a_message(client_as):
    model = MLModelFactory()
    response = client_as("reviewer").post(reverse("compliance:classify", kwargs={"slug": model.slug}), {
        "eu_category": "high_risk", "annex_iii_area": "none", "role": "provider"})
    assert response.status_code == 400
    assert "choose which" in response.content.decode()
    assert not AuditEvent.objects.filter(action="model.classified").exists()


def test_a_data_scientist_of_another_team_cannot_classify(client_as):
    model = MLModelFactory()
    response = client_as("data_scientist").get(reverse("compliance:classify", kwargs={"slug": model.slug}))
    assert response.status_code == 403


def test_the_portfolio_page_shows_coverage_by_framework_and_business_unit(client_as):
    ClassificationFactory(model__team__business_unit=BusinessUnitFactory(name="Retail credit"))
    body = client_as("executive").get(reverse("compliance:index")).content.decode()
    assert "By framework" in body and "EU AI Act" in body and "Retail credit" in body


def test_each_business_units_count_of_models_opens_those_models(client_as):
    unit = BusinessUnitFactory(name="Retail credit")
    ClassificationFactory(model__team__business_unit=unit, model__name="Scorer")
    MLModelFactory(name="Forecaster")
    client = client_as("executive")
    portfolio = client.get(reverse("compliance:index")).context["portfolio"]
    assert len(portfolio.by_business_unit[unit.slug].models) == 1
    body = client.get(reverse("compliance:index")).content.decode()
    assert f'href="{reverse("compliance:index")}?business_unit={unit.slug}">1</a>' in body
    filtered = client.get(reverse("compliance:index"), {"business_unit": unit.slug})
    assert filtered.context["page_obj"].paginator.count == 1 and "Forecaster" not in filtered.content.decode()


def test_the_portfolio_filters_by_classification(client_as):
    ClassificationFactory(model__name="Scorer")
    MLModelFactory(name="Forecaster")
    body = client_as("executive").get(reverse("compliance:index"), {"classified": "true"}).content.decode()
    assert "Scorer" in body and "Forecaster" not in body


def test_an_empty_portfolio_says_what_to_do(client_as):
    body = client_as("executive").get(reverse("compliance:index")).content.decode()
    assert "No models yet" in body


def test_htmx_gets_only_the_results(client_as):
    MLModelFactory()
    response = client_as("executive").get(reverse("compliance:index"), HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode() and "By framework" in response.content.decode()


def _export(client, **params) -> list[dict]:
    response = client.get(reverse("compliance:export"), params)
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_csv_has_one_row_per_applicable_control_and_neutralises_formulas(client_as):
    classification = ClassificationFactory(model__name="=HYPERLINK(1)")
    rows = _export(client_as("executive"))
    view = selectors.model_compliance(classification.model)
    assert len(rows) == len(view.results)
    assert rows[0]["model"] == "'=HYPERLINK(1)"
    assert {r["status"] for r in rows} <= {"satisfied", "partial", "missing"}


def test_portfolio_coverage_equals_the_sum_of_the_per_model_views(client_as):
    ClassificationFactory(model__team__business_unit=BusinessUnitFactory(name="A"))
    ClassificationFactory(role="deployer", model__team__business_unit=BusinessUnitFactory(name="B"))
    ModelVersionFactory(model=ClassificationFactory(eu_category="minimal", annex_iii_area="none").model)
    MLModelFactory()
    models = list(selectors.models_for_compliance())
    portfolio = selectors.portfolio_compliance(models)
    views = [selectors.model_compliance(m) for m in models]
    for status in ("satisfied", "partial", "missing"):
        assert getattr(portfolio.total, status) == sum(getattr(v.coverage, status) for v in views)
    assert sum(c.applicable for c in portfolio.by_framework.values()) == sum(len(v.results) for v in views)
    assert sum(c.applicable for c in portfolio.by_business_unit.values()) == portfolio.total.applicable
    exported = _export(client_as("executive"))
    assert len(exported) == portfolio.total.applicable
    assert sum(r["status"] == "satisfied" for r in exported) == portfolio.total.satisfied


def _portfolio(n: int) -> None:
    for i in range(n):
        version = ModelVersionFactory(governance=False, training_datasets=None)
        if i % 2:
            ClassificationFactory(model=version.model)


@pytest.mark.parametrize("count", [10, 60])
def test_the_portfolio_page_costs_a_constant_number_of_queries(client_as, django_assert_num_queries, count):
    _portfolio(count)
    client = client_as("executive")
    client.get(reverse("compliance:index"))  # warm the session and the user's roles
    # Two of them: the models' findings and incidents (compliance evidence since mapping 2).
    with django_assert_num_queries(20):
        assert client.get(reverse("compliance:index"), {"per_page": 100}).status_code == 200


@pytest.mark.parametrize("count", [10, 60])
def test_the_export_costs_a_constant_number_of_queries(client_as, django_assert_num_queries, count):
    _portfolio(count)
    client = client_as("executive")
    client.get(reverse("compliance:index"))
    # Two of them: the models' findings and incidents (compliance evidence since mapping 2).
    with django_assert_num_queries(15):
        assert client.get(reverse("compliance:export")).status_code == 200


def test_the_frameworks_page_lists_every_framework_and_control(client_as):
    body = client_as("executive").get(reverse("compliance:frameworks")).content.decode()
    for text in ("EU AI Act", "NIST AI RMF", "ISO/IEC 42001", "SR 11-7", "Art. 73", "MANAGE 4", "A.7.5"):
        assert text in body


def test_the_model_page_links_to_its_compliance_view(client_as):
    model = MLModelFactory()
    body = client_as("executive").get(model.get_absolute_url()).content.decode()
    assert reverse("compliance:model", kwargs={"slug": model.slug}) in body


@pytest.mark.parametrize("versions", [1, 6])
def test_the_model_compliance_page_costs_a_constant_number_of_queries(client_as, django_assert_num_queries,
                                                                     versions):
    model = ClassificationFactory().model
    for _ in range(versions):
        ModelVersionFactory(model=model, governance=False)
    client = client_as("executive")
    url = reverse("compliance:model", kwargs={"slug": model.slug})
    client.get(url)
    # Two of them: the model's findings and incidents (compliance evidence since mapping 2).
    with django_assert_num_queries(17):
        assert client.get(url).status_code == 200

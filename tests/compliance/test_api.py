import pytest
from django.urls import reverse

from apps.compliance import selectors
from apps.core.models import AuditEvent
from tests.compliance.factories import ClassificationFactory
from tests.factories import UserFactory, api_key_for
from tests.inventory.factories import BusinessUnitFactory, MLModelFactory

pytestmark = pytest.mark.django_db

ANSWERS = {"eu_category": "high_risk", "annex_iii_area": "essential_services", "role": "provider",
           "rationale": "Credit scoring of applicants."}


def api(client, role: str, **user_fields):
    user = UserFactory(roles=[role], **user_fields)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_key_for(user)}"
    return client, user


def test_the_frameworks_endpoint_lists_each_framework_with_its_controls(client):
    client, _ = api(client, "executive")
    body = client.get(reverse("api-compliance-frameworks")).json()
    eu = next(f for f in body if f["code"] == "eu-ai-act")
    assert eu["version"] == "2024/1689, mapping 2" and any(c["reference"] == "Art. 73" for c in eu["controls"])


def test_the_model_endpoint_gives_each_control_with_evidence_links_dates_and_fixes(client):
    model = ClassificationFactory().model
    client, _ = api(client, "executive")
    body = client.get(reverse("api-compliance-model", kwargs={"slug": model.slug})).json()
    assert body["classification"]["eu_category"] == "high_risk"
    eu9 = next(c for c in body["controls"] if c["code"] == "EU-9")
    assert eu9["status"] == "partial" and len(eu9["fixes"]) == 2  # no assessment; nothing monitored yet
    assessment = next(e for e in eu9["evidence"] if e["kind"] == "risk_assessment")
    assert assessment["url"] == reverse("risk:model", kwargs={"slug": model.slug})
    classification = next(c for c in body["controls"] if c["code"] == "EU-6")["evidence"][0]
    assert classification["status"] == "satisfied" and classification["at"]
    assert body["coverage"]["applicable"] == len(body["controls"])


def test_coverage_by_api_equals_the_per_model_views(client):
    ClassificationFactory(model__team__business_unit=BusinessUnitFactory(name="Retail"))
    MLModelFactory(team__business_unit=BusinessUnitFactory(name="Cards"))
    client, _ = api(client, "executive")
    body = client.get(reverse("api-compliance-coverage")).json()
    views = [selectors.model_compliance(m) for m in selectors.models_for_compliance()]
    assert body["total"]["applicable"] == sum(len(v.results) for v in views)
    assert body["total"]["satisfied"] == sum(v.coverage.satisfied for v in views)
    assert {row["name"] for row in body["by_business_unit"]} == {"Retail", "Cards"}
    assert sum(row["applicable"] for row in body["by_framework"]) == body["total"]["applicable"]


def test_coverage_filters_and_refuses_an_unknown_filter_value(client):
    ClassificationFactory()
    MLModelFactory()
    client, _ = api(client, "executive")
    assert client.get(reverse("api-compliance-coverage"), {"classified": "true"}).json()["total"]["models"] == 1
    response = client.get(reverse("api-compliance-coverage"), {"eu_category": "risky"})
    assert response.status_code == 400 and "eu_category" in response.json()


def test_a_reviewer_classifies_a_model_through_the_api(client):
    model = MLModelFactory()
    client, reviewer = api(client, "reviewer")
    url = reverse("api-compliance-classification", kwargs={"slug": model.slug})
    assert client.get(url).status_code == 404
    response = client.put(url, ANSWERS, content_type="application/json")
    assert response.status_code == 200 and response.json()["classified_by"] == reviewer.username
    assert client.get(url).json()["annex_iii_area"] == "essential_services"
    assert AuditEvent.objects.filter(action="model.classified", object_id=str(model.pk)).count() == 1


def test_an_inconsistent_classification_is_a_400_naming_the_field(client):
    model = MLModelFactory()
    client, _ = api(client, "admin")
    response = client.put(reverse("api-compliance-classification", kwargs={"slug": model.slug}),
                          {**ANSWERS, "annex_iii_area": "none"}, content_type="application/json")
    assert response.status_code == 400 and "annex_iii_area" in str(response.json())


def test_executives_cannot_classify(client):
    model = MLModelFactory()
    client, _ = api(client, "executive")
    response = client.put(reverse("api-compliance-classification", kwargs={"slug": model.slug}), ANSWERS,
                          content_type="application/json")
    assert response.status_code == 403


def test_the_schema_documents_the_compliance_endpoints(client):
    client, _ = api(client, "executive")
    paths = client.get(reverse("api-schema"), {"format": "json"}).json()["paths"]
    for path in ("/api/v1/compliance/frameworks/", "/api/v1/compliance/coverage/",
                 "/api/v1/compliance/models/{slug}/", "/api/v1/compliance/models/{slug}/classification/"):
        assert path in paths
    assert "put" in paths["/api/v1/compliance/models/{slug}/classification/"]


@pytest.mark.parametrize("count", [10, 60])
def test_coverage_costs_a_constant_number_of_queries(client, django_assert_num_queries, count):
    for i in range(count):
        ClassificationFactory() if i % 2 else MLModelFactory()
    client, _ = api(client, "executive")
    client.get(reverse("api-compliance-frameworks"))
    # Two of them: the models' findings and incidents (compliance evidence since mapping 2).
    with django_assert_num_queries(15):
        assert client.get(reverse("api-compliance-coverage")).status_code == 200

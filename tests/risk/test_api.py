import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.risk.models import GovernancePolicy, RiskAssessment
from apps.risk.scoring import RISKS
from tests.factories import api_key_for
from tests.inventory.factories import MLModelFactory
from tests.risk.test_views import BAD_POLICIES


@pytest.fixture
def api(make_user):
    def client_for(role, **kwargs):
        client = APIClient()
        client.user = make_user(role, **kwargs)
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(client.user)}")
        return client

    return client_for


def body(model, probability=3, impact=4):
    return {"model": model.slug, "exposure": "customer_facing", "automation_level": "fully_automated",
            "regulated_domain": "credit", "summary": "API assessment",
            "ratings": [{"risk": key, "probability": probability, "impact": impact, "rationale": "r",
                         "mitigations": [{"action": "monitor", "due_date": "2027-01-31"}]} for key in RISKS]}


def test_a_reviewer_drafts_and_submits_through_the_api(api):
    model = MLModelFactory()
    client = api("reviewer", username="rita")
    draft = client.post("/api/v1/risk-assessments/", body(model), format="json")
    assert draft.status_code == 201 and draft.json()["status"] == "draft"
    submitted = client.post(f"/api/v1/risk-assessments/{draft.json()['id']}/submit/", {"based_on": None},
                            format="json")
    assert submitted.status_code == 200
    data = submitted.json()
    assert data["tier"] == "critical" and data["base_tier"] == "high" and data["matrix_version"] == 1
    assert data["ratings"][0]["severity"] == "high" and data["ratings"][0]["mitigations"][0]["action"] == "monitor"
    assert AuditEvent.objects.filter(action="risk_assessment.submitted", actor_username="rita").exists()


def test_out_of_range_ratings_get_400_naming_the_field(api):
    response = api("reviewer").post("/api/v1/risk-assessments/", body(MLModelFactory(), probability=6), format="json")
    assert response.status_code == 400 and "probability" in str(response.json()["ratings"])
    assert not RiskAssessment.objects.exists()


def test_a_stale_submission_gets_409(api):
    model = MLModelFactory()
    client = api("reviewer")
    first = client.post("/api/v1/risk-assessments/", body(model), format="json").json()["id"]
    client.post(f"/api/v1/risk-assessments/{first}/submit/", {"based_on": None}, format="json")
    second = client.post("/api/v1/risk-assessments/", body(model), format="json").json()["id"]
    response = client.post(f"/api/v1/risk-assessments/{second}/submit/", {"based_on": None}, format="json")
    assert response.status_code == 409 and "newer assessment" in response.json()["detail"]


def test_data_scientists_draft_but_cannot_submit_and_executives_only_read(api):
    scientist = api("data_scientist")
    model = MLModelFactory(team__members=[scientist.user])
    draft = scientist.post("/api/v1/risk-assessments/", body(model), format="json").json()["id"]
    assert scientist.post(f"/api/v1/risk-assessments/{draft}/submit/", {}, format="json").status_code == 403
    executive = api("executive")
    assert executive.post("/api/v1/risk-assessments/", body(model), format="json").status_code == 403
    assert executive.get("/api/v1/risk-assessments/", {"model": model.slug}).json()["count"] == 1


def test_a_data_scientist_drafts_only_for_their_teams_models_and_reviewers_for_any(api):
    model = MLModelFactory()
    refused = api("data_scientist").post("/api/v1/risk-assessments/", body(model), format="json")
    assert refused.status_code == 403 and "ask" in refused.json()["detail"]
    assert api("reviewer").post("/api/v1/risk-assessments/", body(model), format="json").status_code == 201


def test_admins_publish_policies_and_others_cannot(api):
    payload = {"tier": "low", "required_approvals": 1, "checklists": ["intentionality"],
               "monitoring_cadence": "monthly", "metric_thresholds": {"accuracy_min": 0.6},
               "reassessment_days": 300, "note": "cheaper"}
    assert api("reviewer").post("/api/v1/governance-policies/", payload, format="json").status_code == 403
    response = api("admin").post("/api/v1/governance-policies/", payload, format="json")
    assert response.status_code == 201 and response.json()["version"] == 2
    current = api("executive").get("/api/v1/governance-policies/current/").json()
    assert {p["tier"]: p["version"] for p in current}["low"] == 2
    assert GovernancePolicy.objects.filter(tier="low").count() == 2


def test_policy_validation_names_the_field(api):
    response = api("admin").post("/api/v1/governance-policies/", {
        "tier": "low", "required_approvals": 0, "checklists": [], "monitoring_cadence": "monthly",
        "metric_thresholds": {}, "reassessment_days": 30, "note": "x"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "required_approvals"


@pytest.mark.parametrize(("change", "field", "message"), BAD_POLICIES)
def test_the_api_refuses_a_policy_outside_the_schema_and_says_why(api, change, field, message):
    payload = {"tier": "high", "required_approvals": 2, "checklists": ["intentionality", "accountability"],
               "monitoring_cadence": "weekly", "metric_thresholds": {"accuracy_min": 0.8}, "reassessment_days": 60,
               "note": "probe", **change}
    response = api("admin").post("/api/v1/governance-policies/", payload, format="json")
    assert response.status_code == 400 and response.json()["field"] == field
    assert message in response.json()["detail"]
    assert GovernancePolicy.objects.filter(tier="high").count() == 1


def test_the_api_refuses_a_policy_without_checklists(api):
    payload = {"tier": "high", "required_approvals": 2, "monitoring_cadence": "weekly", "reassessment_days": 60,
               "note": "probe"}
    response = api("admin").post("/api/v1/governance-policies/", payload, format="json")
    assert response.status_code == 400 and response.json() == {
        "detail": "Give every policy field; missing: checklists.", "field": "checklists"}

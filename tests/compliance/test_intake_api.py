"""Use-case intake through the API: propose, edit, submit, decide, withdraw, and register a model from it."""

import pytest
from django.urls import reverse

from apps.compliance.models import UseCase
from apps.core.models import AuditEvent
from apps.inventory.models import BusinessProcess, MLModel
from tests.compliance.factories import UseCaseFactory
from tests.factories import UserFactory, api_key_for
from tests.inventory.factories import BusinessProcessFactory, TeamFactory

pytestmark = pytest.mark.django_db


def api(client, role: str, **user_fields):
    user = UserFactory(roles=[role], **user_fields)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_key_for(user)}"
    return client, user


def loan_approval():
    return BusinessProcess.objects.filter(slug="loan-approval").first() or BusinessProcessFactory(slug="loan-approval")


def answers(**changes) -> dict:
    return {"title": "Retail credit scoring", "purpose": "Score loan applicants.",
            "business_owner": UserFactory(username="olivia").username,
            "business_process": loan_approval().slug, "eu_category": "high_risk",
            "annex_iii_area": "essential_services", "role": "provider", "exposure": "customer_facing",
            "automation_level": "human_reviews", "screening_probability": 2, "screening_impact": 2, **changes}


def test_a_scientist_proposes_and_gets_the_tier_with_its_derivation(client):
    client, _ = api(client, "data_scientist", username="pat")
    response = client.post(reverse("api-use-case-list"), answers(), content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["proposed_by"], body["preliminary_tier"]) == ("draft", "pat", "high")
    assert body["reference"] == f"UC-{body['id']}" and body["tier_derivation"][-1] == "Preliminary tier: high."
    assert body["business_process"] == "loan-approval" and body["model"] is None


def test_a_bad_answer_is_a_400_naming_the_field(client):
    client, _ = api(client, "data_scientist")
    response = client.post(reverse("api-use-case-list"), answers(annex_iii_area="none"),
                           content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "annex_iii_area"
    unknown = client.post(reverse("api-use-case-list"), answers(eu_category="huge"), content_type="application/json")
    assert unknown.status_code == 400 and "eu_category" in unknown.json()
    assert not UseCase.objects.exists()


def test_an_executive_reads_but_does_not_propose(client):
    UseCaseFactory()
    client, _ = api(client, "executive")
    assert client.get(reverse("api-use-case-list")).json()["count"] == 1
    assert client.post(reverse("api-use-case-list"), answers(), content_type="application/json").status_code == 403


def test_the_list_filters_by_state(client):
    UseCaseFactory(state="declined"), UseCaseFactory(state="approved")
    client, _ = api(client, "reviewer")
    body = client.get(reverse("api-use-case-list"), {"state": "declined"}).json()
    assert [u["state"] for u in body["results"]] == ["declined"]
    assert client.get(reverse("api-use-case-list"), {"state": "bogus"}).status_code == 400


def test_the_whole_path_from_proposal_to_model(client):
    proposer = UserFactory(roles=["data_scientist"], username="pat")
    reviewer = UserFactory(roles=["reviewer"], username="rita")
    as_ = lambda user: {"HTTP_AUTHORIZATION": f"Token {api_key_for(user)}"}  # noqa: E731
    created = client.post(reverse("api-use-case-list"), answers(), content_type="application/json", **as_(proposer))
    pk = created.json()["id"]
    edited = client.patch(reverse("api-use-case-detail", args=[pk]), {"title": "Retail credit"},
                          content_type="application/json", **as_(proposer))
    assert edited.status_code == 200 and edited.json()["title"] == "Retail credit"
    assert client.post(reverse("api-use-case-submit", args=[pk]), **as_(proposer)).json()["state"] == "submitted"
    own = client.post(reverse("api-use-case-decide", args=[pk]), {"decision": "approve"},
                      content_type="application/json", **as_(UserFactory(roles=["reviewer"], username="olivia")))
    assert own.status_code == 403 and "four-eyes" in own.json()["detail"]
    decided = client.post(reverse("api-use-case-decide", args=[pk]), {"decision": "approve"},
                          content_type="application/json", **as_(reviewer))
    assert decided.json()["state"] == "approved" and decided.json()["decided_by"] == "rita"
    team = TeamFactory(members=[proposer])
    model = client.post("/api/v1/models/", {"name": "Retail credit", "team": team.slug, "use_case": f"UC-{pk}"},
                        content_type="application/json", **as_(proposer))
    assert model.status_code == 201, model.json()
    body = model.json()
    assert (body["purpose"], body["accountable_owner"], body["business_processes"]) == (
        "Score loan applicants.", "olivia", ["loan-approval"])
    assert client.get(reverse("api-use-case-detail", args=[pk]), **as_(proposer)).json()["model"] == body["slug"]
    classification = client.get(reverse("api-compliance-classification", args=[body["slug"]]), **as_(reviewer))
    assert classification.json()["annex_iii_area"] == "essential_services"
    again = client.post("/api/v1/models/", {"name": "Copy", "team": team.slug, "use_case": pk},
                        content_type="application/json", **as_(proposer))
    assert again.status_code == 400 and again.json()["field"] == "use_case"
    assert MLModel.objects.count() == 1
    assert AuditEvent.objects.filter(action__startswith="use_case.").count() == 5


def test_a_model_without_a_use_case_is_a_400_saying_what_to_do(client):
    client, scientist = api(client, "data_scientist")
    response = client.post("/api/v1/models/", {"name": "Shadow", "purpose": "p",
                                               "accountable_owner": scientist.username,
                                               "team": TeamFactory(members=[scientist]).slug},
                           content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "use_case"
    assert "approved use case" in response.json()["detail"]


def test_deciding_a_draft_is_a_409(client):
    client, _ = api(client, "reviewer")
    response = client.post(reverse("api-use-case-decide", args=[UseCaseFactory(state="draft").pk]),
                           {"decision": "approve"}, content_type="application/json")
    assert response.status_code == 409


def test_the_schema_documents_the_use_case_endpoints_and_the_models_use_case_field(client):
    client, _ = api(client, "data_scientist")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/use-cases/", "/api/v1/use-cases/{id}/", "/api/v1/use-cases/{id}/decide/"):
        assert path in schema["paths"], path
    model_request = schema["components"]["schemas"].get("MLModelRequest") or schema["components"]["schemas"]["MLModel"]
    assert "use_case" in model_request["properties"]

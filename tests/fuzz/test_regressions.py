"""Schema bugs the API fuzzer found, each pinned with the request that showed it."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.monitoring.models import Evaluation
from apps.reviews import services as reviews
from apps.risk import services as risk
from apps.risk.scoring import RISKS
from tests.fuzz.conformance import api_schema, assert_documented
from tests.inventory.factories import DeploymentFactory, MLModelFactory, ModelVersionFactory, TeamFactory
from tests.reviews.helpers import assessed_version
from tests.risk.factories import ratings


def test_the_fuzzed_schema_is_the_one_served(client_as):
    response = client_as("executive").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200 and json.loads(response.content) == api_schema()


def test_every_operation_documents_the_refusals_it_shares_with_all_others():
    for path, operations in api_schema()["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "429"} <= codes, f"{method} {path}"
            if "{" in path:
                assert "404" in codes, f"{method} {path}"


def test_a_body_in_an_unreadable_content_type_is_documented(client_as):
    deployment = DeploymentFactory()
    response = client_as("data_scientist").patch(f"/api/v1/deployments/{deployment.pk}/", "x",
                                                 content_type="text/plain")
    assert response.status_code == 415
    assert_documented(response, "patch", "/api/v1/deployments/{id}/")


def test_a_nul_byte_in_a_lookup_is_refused_not_a_server_error(client_as):
    model = MLModelFactory()
    body = {"model": model.slug, "ratings": [{"risk": risk_key, "probability": 2, "impact": 2,
                                              "mitigations": [{"action": "a", "owner": "\x00"}]}
                                             for risk_key in RISKS]}
    response = client_as("reviewer").post("/api/v1/risk-assessments/", body, content_type="application/json")
    assert response.status_code == 400
    assert_documented(response, "post", "/api/v1/risk-assessments/")


def test_a_nul_byte_in_a_filter_is_not_a_server_error(client_as):
    response = client_as("executive").get("/api/v1/risk-assessments/", {"model": "\x00"})
    # SQLite finds nothing; PostgreSQL refuses the text.
    assert response.status_code in (200, 400)
    assert_documented(response, "get", "/api/v1/risk-assessments/")


def test_an_anonymous_call_is_documented(client):
    assert_documented(client.get("/api/v1/models/"), "get", "/api/v1/models/")


def test_an_invalid_filter_value_is_documented(client_as):
    response = client_as("executive").get("/api/v1/models/", {"business_unit": "\u2205"})
    assert response.status_code == 400
    assert_documented(response, "get", "/api/v1/models/")


def test_a_page_past_the_end_is_documented(client_as):
    TeamFactory()
    response = client_as("executive").get("/api/v1/teams/", {"page": 409})
    assert response.status_code == 404
    assert_documented(response, "get", "/api/v1/teams/")


def test_an_id_no_route_matches_answers_json(client_as):
    response = client_as("executive").get("/api/v1/alerts/7.2e-127/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert_documented(response, "get", "/api/v1/alerts/{id}/")


def test_an_unknown_page_of_the_portal_is_still_html(client_as):
    response = client_as("executive").get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_draft_assessment_without_tier_or_submitter_is_documented(client_as, make_user):
    draft = risk.assessment_save_draft(actor=make_user("reviewer"), model=MLModelFactory(), ratings=ratings())
    response = client_as("executive").get(f"/api/v1/risk-assessments/{draft.pk}/")
    assert response.json()["tier"] == "" and response.json()["submitted_by"] is None
    assert_documented(response, "get", "/api/v1/risk-assessments/{id}/")


def test_the_current_policies_are_a_plain_list_as_documented(client_as):
    response = client_as("executive").get("/api/v1/governance-policies/current/", {"tier": "high"})
    # The seeded policies were written by a migration, so their author is null.
    assert isinstance(response.json(), list) and response.json()[0]["created_by"] is None
    assert len(response.json()) == 4, "the current action ignores filters"
    assert_documented(response, "get", "/api/v1/governance-policies/current/")


def test_a_draft_review_without_links_or_submitter_is_documented(client_as, make_user):
    opener = make_user("data_scientist")
    review = reviews.review_start(actor=opener, version=assessed_version(team__members=[opener]))
    client = client_as("executive")
    detail = client.get(f"/api/v1/reviews/{review.pk}/")
    assert detail.json()["answers"][0]["evidence_link"] == "" and detail.json()["submitted_by"] is None
    assert_documented(detail, "get", "/api/v1/reviews/{id}/")
    assert_documented(client.get("/api/v1/reviews/"), "get", "/api/v1/reviews/")


@pytest.mark.parametrize("body", [{}, {"version": 409}])
def test_a_review_refused_by_validation_is_documented(client_as, body):
    response = client_as("data_scientist").post("/api/v1/reviews/", body, content_type="application/json")
    assert response.status_code == 400 and "version" in response.json()
    assert_documented(response, "post", "/api/v1/reviews/")


def test_an_evaluation_without_an_uploader_is_documented(client_as):
    evaluation = Evaluation.objects.create(version=ModelVersionFactory(), filename="e.csv", file_format="csv",
                                           sha256="0" * 64, size_bytes=1, raw_path="x", created_by=None)
    response = client_as("executive").get(f"/api/v1/evaluations/{evaluation.pk}/")
    assert response.json()["created_by"] is None
    assert_documented(response, "get", "/api/v1/evaluations/{id}/")


def test_an_upload_missing_its_file_is_documented(client_as):
    version = ModelVersionFactory()
    response = client_as("data_scientist").post("/api/v1/evaluations/", {"model_version": version.pk})
    assert response.status_code == 400 and "file" in response.json()
    assert_documented(response, "post", "/api/v1/evaluations/")


def test_an_upload_the_parser_refuses_is_documented(client_as, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user])
    response = client.post(
        "/api/v1/evaluations/", {"model_version": version.pk, "file": SimpleUploadedFile("e.csv", b"a,b\n1,2\n")})
    assert response.status_code == 400 and response.json()["detail"]
    assert_documented(response, "post", "/api/v1/evaluations/")

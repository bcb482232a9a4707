import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.inventory.models import DataSet, Deployment, MLModel, ModelVersion, Stage
from tests.compliance.factories import UseCaseFactory
from tests.factories import api_key_for
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)

SHA = "ab" * 32


@pytest.fixture
def api(make_user):
    """``api("data_scientist", username="sam")``: an API client authenticated with the user's token."""

    def client_for(role: str | None, **kwargs):
        client = APIClient()
        if role:
            client.user = make_user(role, **kwargs)
            client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(client.user)}")
        return client

    return client_for


@pytest.fixture
def scientist(api):
    return api("data_scientist", username="sam")


def post(client, url, body):
    return client.post(url, body, format="json")


def test_it_registers_a_model_and_flags_a_drifted_deployment_end_to_end(scientist, make_user):
    make_user("executive", username="olivia")
    unit = post(scientist, "/api/v1/business-units/", {"name": "Retail Banking"})
    assert unit.status_code == 201 and unit.json()["slug"] == "retail-banking"
    team = post(scientist, "/api/v1/teams/", {"name": "Credit Risk", "business_unit": "retail-banking"})
    assert team.status_code == 201
    process = post(scientist, "/api/v1/business-processes/", {
        "name": "Loan approval", "business_unit": "retail-banking", "decision": "approve a loan",
        "accountable_executive": "olivia",
    })
    assert process.status_code == 201
    data = post(scientist, "/api/v1/datasets/", {
        "name": "loan applications", "version": "2026-01", "contains_personal_data": True, "legal_basis": "contract",
    })
    assert data.status_code == 201
    model = post(scientist, "/api/v1/models/", {
        "name": "Credit scoring", "purpose": "Score loan applications", "accountable_owner": "olivia",
        "team": team.json()["slug"], "business_processes": ["loan-approval"], "tags": ["Credit"],
        "technical_owners": ["sam"], "use_case": f"UC-{UseCaseFactory().pk}",
    })
    assert model.status_code == 201, model.json()
    version = post(scientist, "/api/v1/model-versions/", {
        "model": "credit-scoring", "version": "1.0.0", "training_datasets": [data.json()["slug"]],
        "artifact_uri": "s3://models/credit/1.0.0", "artifact_sha256": SHA, "validated_environment": FINGERPRINT,
    })
    assert version.status_code == 201, version.json()
    version_id = version.json()["id"]
    staged = post(scientist, f"/api/v1/model-versions/{version_id}/transition/",
                  {"stage": "staging", "reason": "validation passed"})
    assert staged.status_code == 200 and staged.json()["stage"] == "staging"
    runtime = {**FINGERPRINT, "packages": {"scikit-learn": "1.7.0", "numpy": "2.2.3"}}
    gated = post(scientist, "/api/v1/deployments/", {
        "version": version_id, "environment": "production", "target": "https://models.internal/credit",
        "business_process": "loan-approval", "runtime_environment": runtime,
    })
    assert gated.status_code == 409 and "cannot go to production" in gated.json()["detail"]
    deployment = post(scientist, "/api/v1/deployments/", {
        "version": version_id, "environment": "staging", "target": "https://models.internal/credit",
        "business_process": "loan-approval", "runtime_environment": runtime,
    })

    assert deployment.status_code == 201, deployment.json()
    assert deployment.json()["environment_mismatch"] is True
    assert deployment.json()["mismatch_details"] == [
        {"component": "scikit-learn", "validated": "1.6.1", "runtime": "1.7.0"}
    ]
    detail = scientist.get("/api/v1/models/credit-scoring/").json()
    assert detail["stage"] == "staging" and detail["tags"] == ["credit"]
    assert [d["environment_mismatch"] for d in detail["active_deployments"]] == [True]
    events = AuditEvent.objects.order_by("seq")
    assert [e.action for e in events if e.action != "governance.changed"] == [
        "business_unit.created", "team.created", "business_process.created", "dataset.created",
        # The refused move to production is recorded too (its own writes rolled back).
        # The use case it came from becomes the model's record: its classification and its link.
        "model.registered", "model.classified", "use_case.registered", "version.created", "version.stage_changed",
        "production_gate.refused", "deployment.created",
    ]
    # Each change of the model's governance state is recorded after the change that caused it.
    first_state = next(e.seq for e in events if e.action == "governance.changed")
    assert first_state > next(e.seq for e in events if e.action == "model.registered")
    assert {e.actor_username for e in events} == {"sam"}


@pytest.mark.parametrize("role", ["executive", "reviewer"])
def test_it_refuses_inventory_writes_from_roles_that_only_read(api, role):
    response = post(api(role), "/api/v1/business-units/", {"name": "Shadow IT"})
    assert response.status_code == 403
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["executive", "reviewer", "data_scientist", "admin"])
def test_it_lets_every_role_read_the_inventory(api, role):
    model = MLModelFactory()
    client = api(role)
    assert client.get("/api/v1/models/").json()["results"][0]["slug"] == model.slug
    assert client.get(f"/api/v1/models/{model.slug}/").status_code == 200


def test_it_answers_anonymous_calls_with_401(api, db):
    assert api(None).get("/api/v1/models/").status_code == 401


def test_it_ignores_stage_and_created_by_sent_with_a_new_model(scientist, make_user):
    make_user("executive", username="olivia")
    make_user("admin", username="mallory")
    response = post(scientist, "/api/v1/models/", {
        "name": "Churn", "purpose": "Predict churn", "accountable_owner": "olivia",
        "team": TeamFactory(members=[scientist.user]).slug,
        "stage": "production", "created_by": "mallory", "slug": "chosen-slug", "use_case": UseCaseFactory().pk,
    })
    assert response.status_code == 201
    model = MLModel.objects.get()
    assert (model.stage, model.created_by.username, model.slug) == ("development", "sam", "churn")


def test_it_ignores_a_stage_sent_with_a_version_update(scientist):
    version = ModelVersionFactory(model__team__members=[scientist.user])
    response = scientist.patch(f"/api/v1/model-versions/{version.pk}/",
                               {"stage": "production", "description": "retrained"}, format="json")
    assert response.status_code == 200
    version.refresh_from_db()
    assert (version.stage, version.description) == ("development", "retrained")


def test_it_refuses_to_relabel_a_version(scientist):
    version = ModelVersionFactory(version="1.0.0")
    response = scientist.patch(f"/api/v1/model-versions/{version.pk}/", {"version": "2.0.0"}, format="json")
    assert response.status_code == 400 and "register a new version" in response.json()["version"][0]
    version.refresh_from_db()
    assert version.version == "1.0.0"


def test_it_answers_a_duplicate_version_with_409_and_a_message(scientist):
    version = ModelVersionFactory(model__team__members=[scientist.user], version="1.0.0")
    response = post(scientist, "/api/v1/model-versions/", {"model": version.model.slug, "version": "1.0.0"})
    assert response.status_code == 409
    assert "already has a version '1.0.0'" in response.json()["detail"]


def test_it_names_artifact_sha256_when_the_hash_is_malformed(scientist):
    model = MLModelFactory(team__members=[scientist.user])
    response = post(scientist, "/api/v1/model-versions/",
                    {"model": model.slug, "version": "1.0.0", "artifact_sha256": "not-a-hash"})
    assert response.status_code == 400 and response.json()["field"] == "artifact_sha256"
    assert not ModelVersion.objects.exists()


def test_it_names_accountable_owner_when_the_username_is_unknown(scientist):
    response = post(scientist, "/api/v1/models/", {
        "name": "Churn", "purpose": "Predict churn", "accountable_owner": "ghost", "team": TeamFactory().slug,
    })
    assert response.status_code == 400 and "ghost" in response.json()["accountable_owner"][0]


def test_it_names_accountable_owner_when_the_owner_has_left(scientist, make_user):
    make_user(username="gone", is_active=False)
    response = post(scientist, "/api/v1/models/", {
        "name": "Churn", "purpose": "Predict churn", "accountable_owner": "gone",
        "team": TeamFactory(members=[scientist.user]).slug, "use_case": UseCaseFactory().pk,
    })
    assert response.status_code == 400
    assert response.json()["field"] == "accountable_owner" and "has left" in response.json()["detail"]


def test_it_updates_a_model_through_the_audited_service(scientist):
    model = MLModelFactory(team__members=[scientist.user], exposure="internal")
    response = scientist.patch(f"/api/v1/models/{model.slug}/",
                               {"exposure": "public", "tags": ["eu"], "reason": "launched on the website"},
                               format="json")
    assert response.status_code == 200 and response.json()["exposure"] == "public"
    event = AuditEvent.objects.get(action="model.updated")
    assert event.changes == {"exposure": ["internal", "public"], "tags": [[], ["eu"]]}
    assert event.reason == "launched on the website" and event.actor_username == "sam"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_it_offers_no_replace_or_delete(scientist, method):
    model = MLModelFactory()
    response = getattr(scientist, method)(f"/api/v1/models/{model.slug}/", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert MLModel.objects.filter(pk=model.pk, name=model.name).exists()


def test_it_names_the_stage_when_a_transition_asks_for_an_unknown_one(scientist):
    version = ModelVersionFactory()
    response = post(scientist, f"/api/v1/model-versions/{version.pk}/transition/", {"stage": "heaven"})
    assert response.status_code == 400 and "stage" in response.json()


def test_it_answers_409_to_a_transition_into_the_current_stage(scientist):
    version = ModelVersionFactory(model__team__members=[scientist.user], stage=Stage.STAGING)
    response = post(scientist, f"/api/v1/model-versions/{version.pk}/transition/", {"stage": "staging"})
    assert response.status_code == 409 and "already in Staging" in response.json()["detail"]


def test_it_retires_a_deployment_once(scientist):
    deployment = DeploymentFactory(version__model__team__members=[scientist.user])
    url = f"/api/v1/deployments/{deployment.pk}/retire/"
    first = post(scientist, url, {"reason": "replaced by 2.0"})
    assert first.status_code == 200 and first.json()["is_active"] is False
    assert AuditEvent.objects.get(action="deployment.retired").reason == "replaced by 2.0"
    assert post(scientist, url, {}).status_code == 409


def test_it_rechecks_the_environment_when_the_runtime_changes(scientist):
    deployment = DeploymentFactory(version__model__team__members=[scientist.user])
    runtime = {**FINGERPRINT, "python": "3.12.1"}
    response = scientist.patch(f"/api/v1/deployments/{deployment.pk}/", {"runtime_environment": runtime},
                               format="json")
    assert response.status_code == 200 and response.json()["environment_mismatch"] is True
    assert response.json()["mismatch_details"][0]["component"] == "Python"


def test_it_ignores_mismatch_flags_sent_with_a_new_deployment(scientist):
    version = ModelVersionFactory(model__team__members=[scientist.user])
    response = post(scientist, "/api/v1/deployments/", {
        "version": version.pk, "environment": "staging", "target": "batch-job", "runtime_environment": FINGERPRINT,
        "environment_mismatch": True, "mismatch_details": [{"component": "x", "validated": "1", "runtime": "2"}],
    })
    assert response.status_code == 201
    assert Deployment.objects.filter(environment_mismatch=False, mismatch_details=[]).count() == 1


def test_it_rejects_a_fingerprint_that_is_not_an_object(scientist):
    version = ModelVersionFactory()
    response = post(scientist, "/api/v1/deployments/", {
        "version": version.pk, "environment": "production", "target": "batch-job", "runtime_environment": ["3.11"],
    })
    assert response.status_code == 400 and "runtime_environment" in response.json()


def test_it_refuses_to_rename_a_data_set_snapshot(scientist):
    dataset = DataSetFactory(name="loans", version="v1")
    response = scientist.patch(f"/api/v1/datasets/{dataset.slug}/", {"version": "v9", "description": "monthly"},
                               format="json")
    assert response.status_code == 400 and "new data set version" in response.json()["version"][0]
    dataset.refresh_from_db()
    assert (dataset.version, dataset.description) == ("v1", "")


def test_it_updates_a_data_sets_metadata(scientist):
    dataset = DataSetFactory(name="loans", version="v1")
    response = scientist.patch(f"/api/v1/datasets/{dataset.slug}/",
                               {"name": "loans", "description": "monthly snapshot"}, format="json")
    assert response.status_code == 200 and response.json()["description"] == "monthly snapshot"
    assert AuditEvent.objects.get(action="dataset.updated").changes == {"description": ["", "monthly snapshot"]}


def test_it_names_legal_basis_when_personal_data_has_none(scientist):
    response = post(scientist, "/api/v1/datasets/", {"name": "customers", "version": "1",
                                                      "contains_personal_data": True})
    assert response.status_code == 400 and response.json()["field"] == "legal_basis"
    assert not DataSet.objects.exists()


def test_it_creates_a_pipeline_step_and_marks_its_output_derived(scientist):
    raw, features = DataSetFactory(), DataSetFactory()
    response = post(scientist, "/api/v1/pipeline-steps/",
                    {"name": "build features", "inputs": [raw.slug], "output": features.slug})
    assert response.status_code == 201 and response.json()["inputs"] == [raw.slug]
    features.refresh_from_db()
    assert features.kind == DataSet.Kind.DERIVED


def test_it_answers_409_to_a_duplicate_team_in_a_unit(scientist):
    team = TeamFactory(name="Pricing")
    response = post(scientist, "/api/v1/teams/", {"name": "Pricing", "business_unit": team.business_unit.slug})
    assert response.status_code == 409


def test_it_filters_models_with_the_shared_filterset(scientist):
    drifted = DeploymentFactory(runtime_environment={}, environment_mismatch=True).version.model
    MLModelFactory()
    response = scientist.get("/api/v1/models/", {"env_mismatch": "true"})
    assert [m["slug"] for m in response.json()["results"]] == [drifted.slug]


def test_it_searches_models_and_paginates(scientist):
    for n in range(3):
        MLModelFactory(name=f"Fraud detector {n}")
    MLModelFactory(name="Churn")
    response = scientist.get("/api/v1/models/", {"search": "fraud", "page_size": 2})
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_it_filters_versions_and_deployments_by_model(scientist):
    deployment = DeploymentFactory()
    DeploymentFactory()
    slug = deployment.version.model.slug
    versions = scientist.get("/api/v1/model-versions/", {"model": slug}).json()["results"]
    deployments = scientist.get("/api/v1/deployments/", {"model": slug}).json()["results"]
    assert [v["id"] for v in versions] == [deployment.version.pk]
    assert [d["id"] for d in deployments] == [deployment.pk]


def test_model_detail_summarises_versions_and_only_active_deployments(scientist):
    version = ModelVersionFactory()
    live = DeploymentFactory(version=version)
    DeploymentFactory(version=version, retired_at=live.deployed_at)
    body = scientist.get(f"/api/v1/models/{version.model.slug}/").json()
    assert [v["version"] for v in body["versions"]] == [version.version]
    assert [d["id"] for d in body["active_deployments"]] == [live.pk]



def test_a_model_read_without_the_views_prefetch_serializes_the_same(scientist):
    from apps.inventory.api.serializers import MLModelSerializer

    version = ModelVersionFactory()
    ModelVersionFactory(model=version.model, version="2.0")
    live = DeploymentFactory(version=version)
    DeploymentFactory(version=version, retired_at=live.deployed_at)
    body = scientist.get(f"/api/v1/models/{version.model.slug}/").json()
    plain = MLModelSerializer(MLModel.objects.get(pk=version.model.pk)).data
    newest_first = ["2.0", version.version]
    assert [v["version"] for v in plain["versions"]] == [v["version"] for v in body["versions"]] == newest_first
    assert [d["id"] for d in plain["active_deployments"]] == [d["id"] for d in body["active_deployments"]] == [live.pk]

def _populate(count: int) -> None:
    process = BusinessProcessFactory()
    dataset = DataSetFactory()
    for _ in range(count):
        model = MLModelFactory(business_processes=[process])
        model.technical_owners.add(model.accountable_owner)
        for _ in range(2):
            version = ModelVersionFactory(model=model, training_datasets=[dataset])
            DeploymentFactory(version=version)


@pytest.mark.parametrize("count", [5, 30])
def test_the_model_list_costs_a_constant_number_of_queries(scientist, django_assert_max_num_queries, count):
    _populate(count)
    # Token + roles, count, the page's keys, their rows, owners, processes, tags, versions, deployments,
    # governance states.
    with django_assert_max_num_queries(11):
        response = scientist.get("/api/v1/models/")
    assert len(response.json()["results"]) == count
    assert all(len(m["active_deployments"]) == 2 for m in response.json()["results"])


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
         str(tmp_path / "schema.yaml")],
        cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/model-versions/{id}/transition/:" in schema and "Retire a deployment" in schema

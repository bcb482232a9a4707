"""The model and version endpoints answer from ``values()`` rows; their serializers define the answer.

Each test builds models or versions of a different shape and checks that the fast answer equals
what the serializer gives for the same objects (its related lists read in the documented order).
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils import timezone

from apps.inventory.api import representations
from apps.inventory.api.serializers import MLModelSerializer, ModelVersionSerializer
from apps.inventory.models import MLModel, ModelVersion, Stage, StageTransition, Tag
from tests.compliance.factories import UseCaseFactory
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
)

pytestmark = pytest.mark.django_db
User = get_user_model()


def serialized_models(pks):
    by_pk = {m.pk: m for m in MLModel.objects.filter(pk__in=pks).prefetch_related(
        Prefetch("technical_owners", queryset=User.objects.order_by("username")))}
    return [MLModelSerializer(by_pk[pk]).data for pk in pks]


def serialized_versions(pks):
    return [ModelVersionSerializer(ModelVersion.objects.get(pk=pk)).data for pk in pks]


def as_plain(data):
    """DRF's ReturnDict/OrderedDict and lists as plain dicts and lists, for a readable diff."""
    if isinstance(data, dict):
        return {key: as_plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [as_plain(value) for value in data]
    return data


@pytest.fixture
def varied_models():
    """A bare model, one with every relation, one with versions and deployments, one retired."""
    now = timezone.now()
    bare = MLModelFactory(name="Bare", created_by=None)
    full = MLModelFactory(name="Full", created_by=UserFactory(username="creator"),
                          business_processes=[BusinessProcessFactory(name="Zeta"),
                                              BusinessProcessFactory(name="Alpha")],
                          intended_use="Scoring", out_of_scope_uses="Anything else", exposure="public",
                          automation_level="fully_automated", task_type="regression")
    full.technical_owners.set([UserFactory(username="zoe"), UserFactory(username="adam"), UserFactory(username="mia")])
    full.tags.set([Tag.objects.create(name="fraud"), Tag.objects.create(name="credit")])
    deployed = MLModelFactory(name="Deployed")
    old = ModelVersionFactory(model=deployed, version="1.0.0", stage=Stage.RETIRED)
    new = ModelVersionFactory(model=deployed, version="2.0.0", stage=Stage.PRODUCTION)
    ModelVersion.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30))
    DeploymentFactory(version=old, deployed_at=now - timedelta(days=20), environment="staging")
    DeploymentFactory(version=old, deployed_at=now - timedelta(days=25), retired_at=now - timedelta(days=1))
    DeploymentFactory(version=new, deployed_at=now - timedelta(days=2))
    DeploymentFactory(version=new, deployed_at=now - timedelta(days=20), runtime_environment={"python": "3.10.4"})
    retired = MLModelFactory(name="Retired", stage=Stage.RETIRED)
    ModelVersionFactory(model=retired, stage=Stage.RETIRED)
    return [deployed.pk, bare.pk, retired.pk, full.pk]


def test_model_answers_equal_the_serializer_for_every_shape(varied_models):
    assert as_plain(representations.models(varied_models)) == as_plain(serialized_models(varied_models))


def test_model_answers_keep_the_order_asked_for(varied_models):
    assert [m["name"] for m in representations.models(varied_models)] == ["Deployed", "Bare", "Retired", "Full"]
    assert representations.models([]) == []


def test_model_answers_list_relations_in_the_documented_order(varied_models):
    full = representations.models([varied_models[3]])[0]
    deployed = representations.models([varied_models[0]])[0]
    assert full["technical_owners"] == ["adam", "mia", "zoe"]
    assert full["tags"] == ["credit", "fraud"]
    assert [v["version"] for v in deployed["versions"]] == ["2.0.0", "1.0.0"]
    # Active deployments only, most recent first; a tie on the date goes to the newer version.
    assert [(d["version"], d["environment"], d["environment_mismatch"]) for d in deployed["active_deployments"]] == [
        ("2.0.0", "production", False), ("2.0.0", "production", True), ("1.0.0", "staging", False)]


def test_datetimes_are_written_in_the_current_time_zone_as_drf_writes_them(varied_models):
    with timezone.override("Europe/Paris"):
        fast, slow = representations.models(varied_models), serialized_models(varied_models)
    assert as_plain(fast) == as_plain(slow)
    assert fast[0]["created_at"].endswith(("+01:00", "+02:00"))
    assert representations.models(varied_models)[0]["created_at"].endswith("Z")


def test_version_answers_equal_the_serializer_for_every_shape():
    gone = UserFactory(username="gone")
    bare = ModelVersionFactory(created_by=None, validated_environment={})
    second = DataSetFactory(name="a-data", version="v2")
    full = ModelVersionFactory(
        description="Retrained on 2026 data", hyperparameters={"C": 0.5, "penalty": "l2", "layers": [3, 4]},
        validation_metrics={"roc_auc": 0.91}, artifact_uri="s3://models/x", artifact_sha256="ab" * 32,
        created_by=UserFactory(username="author"),
        training_datasets=[DataSetFactory(name="b-data", slug="b-data"), second,
                           DataSetFactory(name="a-data", version="v1", slug="a-data-v1")])
    now = timezone.now()
    StageTransition.objects.create(version=full, from_stage="", to_stage="development", actor=gone, reason="registered",
                                   at=now - timedelta(days=2))
    StageTransition.objects.create(version=full, from_stage="development", to_stage="staging", actor=None,
                                   reason="", at=now - timedelta(days=1))
    gone.delete()
    pks = [full.pk, bare.pk]
    fast = representations.versions(pks)
    assert as_plain(fast) == as_plain(serialized_versions(pks))
    assert [t["actor"] for t in fast[0]["transitions"]] == [None, None]
    assert fast[0]["training_datasets"] == ["a-data-v1", second.slug, "b-data"]


def test_the_api_answers_with_the_representations(api_client_for_reader, varied_models):
    listed = api_client_for_reader.get("/api/v1/models/?page_size=2").json()
    assert listed["count"] == 4
    assert as_plain(listed["results"]) == as_plain(serialized_models(
        list(MLModel.objects.order_by("name").values_list("pk", flat=True)[:2])))
    slug = MLModel.objects.get(pk=varied_models[3]).slug
    detail = api_client_for_reader.get(f"/api/v1/models/{slug}/").json()
    assert detail == as_plain(serialized_models([varied_models[3]]))[0]


@pytest.fixture
def api_client_for_reader(make_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user("executive"))
    return client


@pytest.mark.parametrize("path", ["/api/v1/models/no-such-model/", "/api/v1/model-versions/999999/",
                                  "/api/v1/model-versions/abc/", "/api/v1/model-versions/1.5/"])
def test_a_missing_or_malformed_key_is_a_404(api_client_for_reader, path):
    response = api_client_for_reader.get(path)
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


def test_one_model_is_read_in_a_fixed_number_of_queries(api_client_for_reader, varied_models,
                                                       django_assert_num_queries):
    slug = MLModel.objects.get(pk=varied_models[0]).slug
    with django_assert_num_queries(8):  # roles, the row, owners, processes, tags, versions, deployments, state
        response = api_client_for_reader.get(f"/api/v1/models/{slug}/")
    assert len(response.json()["versions"]) == 2


@pytest.mark.parametrize("extra", [
    {},
    {"tags": ["Fraud", "fraud", "Credit Risk", "--"], "technical_owners": ["zed", "amy", "zed", "Zoe"],
     "business_processes": ["proc-b", "proc-a", "proc-c", "proc-d"], "intended_use": "Scoring", "exposure": "public",
     "automation_level": "fully_automated", "task_type": "regression"},
])
def test_the_answer_to_a_registration_equals_a_get_of_the_model(make_user, extra):
    from rest_framework.test import APIClient

    scientist = APIClient()
    sam = make_user("data_scientist", username="sam")
    scientist.force_authenticate(sam)
    owner = UserFactory(username="olga")
    UserFactory(username="zed"), UserFactory(username="amy"), UserFactory(username="Zoe")
    BusinessProcessFactory(name="Same name", slug="proc-b"), BusinessProcessFactory(name="Same name", slug="proc-a")
    BusinessProcessFactory(name="Another", slug="proc-c")
    BusinessProcessFactory(name="another one", slug="proc-d")  # code point order: capitals first
    team = MLModelFactory(team__members=[sam]).team
    response = scientist.post("/api/v1/models/", {"name": "Churn", "purpose": "Predict churn.",
                                                  "accountable_owner": owner.username, "team": team.slug,
                                                  "use_case": UseCaseFactory().pk, **extra},
                              format="json")
    assert response.status_code == 201, response.content
    assert response.json() == scientist.get(f"/api/v1/models/{response.json()['slug']}/").json()
    assert response.json()["created_by"] == "sam"


@pytest.mark.parametrize("extra", [
    {},
    {"training_datasets": ["b-data", "a-data-v2", "a-data-v1", "b-data"], "description": "First",
     "hyperparameters": {"C": 1.0, "layers": [2, 3]}, "validation_metrics": {"auc": 0.9}, "algorithm": "GBM",
     "framework": "xgboost 2.1", "artifact_sha256": "ab" * 32, "validated_environment": {"python": "3.11.7"}},
])
def test_the_answer_to_a_version_registration_equals_a_get_of_the_version(make_user, extra):
    from rest_framework.test import APIClient

    scientist = APIClient()
    sam = make_user("data_scientist", username="sam")
    scientist.force_authenticate(sam)
    DataSetFactory(name="b-data", slug="b-data")
    DataSetFactory(name="a-data", version="v2", slug="a-data-v2")
    DataSetFactory(name="a-data", version="v1", slug="a-data-v1")
    model = MLModelFactory(team__members=[sam])
    response = scientist.post("/api/v1/model-versions/", {"model": model.slug, "version": "1.0.0", **extra},
                              format="json")
    assert response.status_code == 201, response.content
    assert response.json() == scientist.get(f"/api/v1/model-versions/{response.json()['id']}/").json()
    assert [t["reason"] for t in response.json()["transitions"]] == ["registered"]

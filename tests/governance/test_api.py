"""The API answers the stored governance state on models and versions, and filters lists by it."""

import pytest
from rest_framework.test import APIClient

from apps.inventory.models import ModelGovernance, VersionGovernance
from tests.inventory.factories import MLModelFactory, ModelVersionFactory


@pytest.fixture
def api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("executive"))
    return client


def test_a_model_answer_carries_its_stored_state_with_reasons_and_links(api):
    version = ModelVersionFactory(stage="production")
    answer = api.get(f"/api/v1/models/{version.model.slug}/").json()["governance"]
    stored = ModelGovernance.objects.get(pk=version.model_id)
    assert (answer["status"], answer["health"], answer["approval"], answer["tier"]) == \
        (stored.status, stored.health, stored.approval, stored.tier)
    assert [r["code"] for r in answer["reasons"]] == [r["code"] for r in stored.reasons]
    assert {"not_assessed", "approval_missing"} <= {r["code"] for r in answer["reasons"]}
    assert all(r["url"].startswith("/") and r["message"] for r in answer["reasons"])
    assert answer["status"] == "non_compliant" and answer["tier"] == ""
    # The red flags the dashboard shows for it, most severe first.
    documented = ("kind", "label", "severity", "detail", "url")
    assert answer["flags"] == [{name: flag[name] for name in documented} for flag in stored.flags]
    assert {"unapproved", "not_assessed"} <= {f["kind"] for f in answer["flags"]}
    assert answer["flags"][0]["severity"] == "high"


def test_a_version_answer_says_whether_the_gate_is_open(api):
    version = ModelVersionFactory()
    answer = api.get(f"/api/v1/model-versions/{version.pk}/").json()["governance"]
    assert answer["gate_open"] is False == VersionGovernance.objects.get(pk=version.pk).gate_open
    assert any(r["blocks_gate"] for r in answer["reasons"])


def test_a_model_not_computed_yet_answers_null(api):
    model = MLModelFactory(governance=False)
    assert api.get(f"/api/v1/models/{model.slug}/").json()["governance"] is None


def test_lists_filter_by_state_health_approval_and_reason(api):
    live = ModelVersionFactory(stage="production")
    ModelVersionFactory(stage="development")
    slugs = lambda query: {m["slug"] for m in api.get(f"/api/v1/models/?{query}").json()["results"]}  # noqa: E731
    assert slugs("governance=non_compliant") == {live.model.slug}
    assert slugs("health=no_evidence") == {live.model.slug}
    assert slugs("reason=monitoring_due") == {live.model.slug}
    assert live.model.slug not in slugs("governance=compliant&governance=attention")
    assert api.get("/api/v1/models/?governance=bogus").status_code == 400
    versions = api.get("/api/v1/model-versions/?gate_open=false").json()["results"]
    assert {v["id"] for v in versions} >= {live.pk}

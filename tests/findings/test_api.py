"""The findings and incidents API: writes through the services, refusals as 4xx bodies, the schema."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.findings.models import Finding
from tests.factories import api_key_for
from tests.findings.factories import FindingFactory, IncidentFactory
from tests.inventory.factories import ModelVersionFactory


def api(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_key_for(user)}"
    return client


def test_a_reviewer_raises_then_another_closes_a_finding_through_the_api(client, make_user):
    version = ModelVersionFactory()
    reviewer = make_user("reviewer")
    body = {"version": version.pk, "title": "Calibration drifts", "description": "9 points off.", "severity": "high",
            "owner": version.model.accountable_owner.username,
            "due_date": (timezone.localdate() + timedelta(days=7)).isoformat()}
    created = api(client, reviewer).post(reverse("finding-list"), body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["status"], data["model"], data["url"]) == ("open", version.model.slug, f"/findings/{data['id']}/")
    url = reverse("finding-transition", args=[data["id"]])
    refused = client.post(url, {"status": "closed", "note": "short"}, content_type="application/json")
    assert refused.status_code == 400 and "how the fix was checked" in refused.content.decode()
    closed = api(client, make_user("admin")).post(url, {"status": "closed", "note": "Re-ran the holdout test: fine."},
                                                 content_type="application/json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_the_list_filters_open_findings_of_a_model(client, make_user):
    finding = FindingFactory()
    FindingFactory(status="closed")
    rows = api(client, make_user("executive")).get(reverse("finding-list"),
                                                   {"open": "true", "model": finding.version.model.slug}).json()
    assert [row["id"] for row in rows["results"]] == [finding.pk]


def test_an_executive_cannot_write(client, make_user):
    finding = FindingFactory()
    response = api(client, make_user("executive")).patch(reverse("finding-detail", args=[finding.pk]),
                                                         {"remediation": "x"}, content_type="application/json")
    assert response.status_code == 403 and Finding.objects.get().remediation == ""


def test_an_incident_shows_its_deadline_and_timeline(client, make_user):
    aware = timezone.now() - timedelta(days=1)
    incident = IncidentFactory(serious_kind="death", aware_at=aware, occurred_at=aware - timedelta(hours=2))
    user = make_user("reviewer")
    data = api(client, user).get(reverse("incident-detail", args=[incident.pk])).json()
    assert data["report_deadline"] == (aware + timedelta(days=10)).date().isoformat()
    assert data["report_state"] == "due"
    added = client.post(reverse("incident-entries", args=[incident.pk]),
                        {"at": timezone.now().isoformat(), "text": "Model switched off."},
                        content_type="application/json")
    assert added.status_code == 201 and added.json()["entries"][-1]["text"] == "Model switched off."


def test_the_schema_documents_findings_and_incidents(client, make_user):
    client.force_login(make_user("data_scientist"))
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    assert {"/api/v1/findings/", "/api/v1/findings/{id}/transition/", "/api/v1/incidents/{id}/entries/",
            "/api/v1/compliance/findings/{id}/controls/"} <= set(schema["paths"])

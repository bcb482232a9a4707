"""The findings and incidents pages: lists with filters and empty states, details, and the forms' refusals."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.findings.models import Finding, Incident
from tests.findings.factories import FindingFactory, IncidentFactory
from tests.inventory.factories import ModelVersionFactory


def test_the_findings_list_filters_by_severity_and_search_and_has_an_empty_state(client_as):
    client = client_as("executive")
    assert b"No findings yet" in client.get(reverse("findings:index")).content
    FindingFactory(title="Calibration drifts", severity="high")
    FindingFactory(title="Missing data sheet", severity="low")
    page = client.get(reverse("findings:index"), {"severity": "high"}).content.decode()
    assert "Calibration drifts" in page and "Missing data sheet" not in page
    page = client.get(reverse("findings:index"), {"q": "data sheet"}).content.decode()
    assert "Missing data sheet" in page and "Calibration drifts" not in page
    assert b"No findings match these filters" in client.get(reverse("findings:index"), {"q": "nothing"}).content


def test_the_findings_list_marks_an_overdue_finding(client_as):
    finding = FindingFactory(title="Late one")
    Finding.objects.filter(pk=finding.pk).update(due_date=timezone.localdate() - timedelta(days=1))
    page = client_as("executive").get(reverse("findings:index"), {"overdue": "true"}).content.decode()
    assert "Late one" in page and "overdue" in page


def test_a_reviewer_raises_a_finding_through_the_form_and_is_sent_to_it(client_as):
    client = client_as("reviewer")
    version = ModelVersionFactory()
    response = client.post(reverse("findings:raise", args=[version.pk]), {
        "title": "Calibration drifts", "description": "9 points off over 70.", "severity": "critical",
        "owner": version.model.accountable_owner_id,
        "due_date": (timezone.localdate() + timedelta(days=7)).isoformat()})
    finding = Finding.objects.get()
    assert response.status_code == 302 and response["Location"] == finding.get_absolute_url()
    page = client.get(finding.get_absolute_url()).content.decode()
    assert "Calibration drifts" in page and "Change the status" in page


def test_a_past_due_date_is_refused_on_its_field(client_as):
    version = ModelVersionFactory()
    response = client_as("reviewer").post(reverse("findings:raise", args=[version.pk]), {
        "title": "t", "description": "d", "severity": "low", "owner": version.model.accountable_owner_id,
        "due_date": "2020-01-01"})
    assert response.status_code == 400
    assert response.context["form"].errors["due_date"] == ["The due date cannot be in the past."]


def test_the_owner_is_refused_closing_on_the_page_with_the_reason(client_as, make_user):
    client = client_as("reviewer")
    finding = FindingFactory(owner=client.user)
    response = client.post(reverse("findings:finding-status", args=[finding.pk]),
                           {"status": "closed", "note": "I checked my own fix thoroughly."})
    assert response.status_code == 403 and "Four-eyes" in response.content.decode()
    assert Finding.objects.get(pk=finding.pk).status == "open"


def test_an_executive_reads_a_finding_without_forms(client_as):
    finding = FindingFactory()
    page = client_as("executive").get(finding.get_absolute_url()).content.decode()
    assert finding.title in page and "Change the status" not in page and "Edit</a>" not in page


def test_the_incident_page_shows_the_deadline_and_overdue_state(client_as):
    aware = timezone.now() - timedelta(days=5)
    incident = IncidentFactory(serious_kind="widespread", aware_at=aware, occurred_at=aware - timedelta(hours=1))
    page = client_as("executive").get(incident.get_absolute_url()).content.decode()
    assert f"{incident.report_deadline:%d %b %Y}" in page and "Report overdue" in page
    listing = client_as("executive").get(reverse("findings:incidents"), {"serious": "true"}).content.decode()
    assert incident.title in listing and "overdue" in listing


def test_a_scientist_records_an_incident_of_their_teams_model_through_the_form(client_as):
    client = client_as("data_scientist")
    version = ModelVersionFactory()
    version.model.team.members.add(client.user)
    now = timezone.localtime()
    response = client.post(reverse("findings:incident-open", args=[version.model.slug]), {
        "title": "Scores returned as zero", "version": version.pk, "description": "Timeout.",
        "impact": "312 refused.", "occurred_at": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "aware_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "serious_kind": "general"})
    incident = Incident.objects.get()
    assert response.status_code == 302 and incident.version == version and incident.serious
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Report due" in page and "Became aware of it and recorded it" in page
    # A data scientist may not close it (reviewers and admins do).
    response = client.post(reverse("findings:incident-status", args=[incident.pk]),
                           {"status": "closed", "note": "All done and dusted, truly."})
    assert response.status_code == 403 and Incident.objects.get().status == "open"


def test_an_incident_whose_awareness_precedes_it_is_refused_on_the_field(client_as):
    client = client_as("reviewer")
    version = ModelVersionFactory()
    now = timezone.localtime()
    response = client.post(reverse("findings:incident-open", args=[version.model.slug]), {
        "title": "t", "description": "d", "impact": "i", "occurred_at": now.strftime("%Y-%m-%dT%H:%M"),
        "aware_at": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 400 and "aware_at" in response.context["form"].errors


def test_the_version_page_offers_reviewers_to_raise_a_finding(client_as):
    version = ModelVersionFactory()
    url = reverse("inventory:version-detail", args=[version.model.slug, version.version])
    assert reverse("findings:raise", args=[version.pk]) in client_as("reviewer").get(url).content.decode()
    assert reverse("findings:raise", args=[version.pk]) not in client_as("executive").get(url).content.decode()

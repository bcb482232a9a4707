"""Findings and incidents through their services: audit, notifications, and the governance state they change."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.findings import services
from apps.governance import services as governance
from apps.inventory import services as inventory
from apps.inventory.gates import GateRefused
from apps.inventory.models import ModelGovernance, VersionGovernance
from apps.notifications.models import Notification
from apps.notifications.webhooks import event_for_action
from tests.governance.test_scenarios import CRITICAL, approved
from tests.reviews.helpers import assessed_version


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(3)]


def raise_finding(reviewer, version, *, severity="high", owner=None, **kwargs):
    return services.finding_raise(actor=reviewer, version=version, title="Calibration drifts over 70",
                                  description="Expected vs observed default rate differs by 9 points.",
                                  severity=severity, owner=owner or version.model.accountable_owner,
                                  due_date=timezone.localdate() + timedelta(days=14), **kwargs)


def test_a_blocking_finding_refuses_production_and_links_the_refusal_to_it(scientist, reviewers):
    version = approved(scientist, reviewers, tier_ratings=CRITICAL, approvals=3)
    finding = raise_finding(reviewers[0], version, severity="medium", owner=scientist)
    stored = VersionGovernance.objects.get(version=version)
    (blocker,) = stored.blockers
    assert blocker["code"] == "finding_blocking" and blocker["url"] == f"/findings/{finding.pk}/"
    with pytest.raises(GateRefused, match="Calibration drifts over 70"):
        inventory.version_transition(actor=scientist, version=version, to_stage="production")
    assert AuditEvent.objects.filter(action="production_gate.refused", object_id=str(version.pk)).exists()
    # The owner remediates; someone else checks the fix and closes it; the gate opens.
    services.finding_transition(actor=scientist, finding=finding, status="remediating")
    services.finding_update(actor=scientist, finding=finding, remediation="Recalibrated with isotonic regression.")
    services.finding_transition(actor=reviewers[1], finding=finding, status="closed",
                                note="Re-ran the calibration test on the holdout: within 1 point.")
    assert VersionGovernance.objects.get(version=version).gate_open
    inventory.version_transition(actor=scientist, version=version, to_stage="production")


def test_a_high_finding_does_not_hold_a_low_tier_gate(scientist, reviewers):
    version = approved(scientist, reviewers)
    raise_finding(reviewers[0], version, severity="high")
    assert VersionGovernance.objects.get(version=version).gate_open
    raise_finding(reviewers[0], version, severity="critical")
    assert not VersionGovernance.objects.get(version=version).gate_open


def test_raising_a_finding_is_audited_and_tells_its_owner_and_webhooks(scientist, reviewers):
    version = assessed_version()
    finding = raise_finding(reviewers[0], version, owner=scientist)
    event = AuditEvent.objects.get(action="finding.opened", object_id=str(finding.pk))
    assert event.changes["severity"] == [None, "high"] and event.actor == reviewers[0]
    assert event_for_action("finding.opened") == "finding.opened"
    assert event_for_action("incident.opened") == "incident.opened"
    assert Notification.objects.filter(recipient=scientist, url=finding.get_absolute_url()).exists()


def test_only_reviewers_and_admins_raise_findings(scientist):
    version = assessed_version()
    with pytest.raises(PermissionDeniedError, match="reviewers and admins"):
        raise_finding(scientist, version)


def test_the_owner_cannot_close_their_own_finding_and_a_closing_needs_a_note(make_user, reviewers):
    owner = make_user("reviewer", username="owner-reviewer")
    finding = raise_finding(reviewers[0], assessed_version(), owner=owner)
    with pytest.raises(PermissionDeniedError, match="Four-eyes"):
        services.finding_transition(actor=owner, finding=finding, status="closed", note="Fixed it myself, trust me.")
    with pytest.raises(DomainError, match="how the fix was checked"):
        services.finding_transition(actor=reviewers[1], finding=finding, status="closed", note="ok")
    services.finding_transition(actor=reviewers[1], finding=finding, status="closed",
                                note="Checked the new calibration plot against the holdout.")
    with pytest.raises(DomainError, match="closed finding"):
        services.finding_update(actor=reviewers[0], finding=finding, remediation="more")


def test_another_teams_scientist_cannot_record_a_remediation(make_user, reviewers):
    finding = raise_finding(reviewers[0], assessed_version())
    outsider = make_user("data_scientist", username="outsider")
    with pytest.raises(PermissionDeniedError, match="owner"):
        services.finding_update(actor=outsider, finding=finding, remediation="Not mine to fix.")
    with pytest.raises(PermissionDeniedError, match="reviewers and admins"):
        services.finding_update(actor=finding.owner, finding=finding, severity="low")


def test_a_bad_finding_is_refused_with_a_message_naming_the_field(reviewers):
    version = assessed_version()
    with pytest.raises(DomainError) as refused:
        services.finding_raise(actor=reviewers[0], version=version, title=" ", description="x", severity="high",
                               owner=version.model.accountable_owner, due_date=timezone.localdate())
    assert refused.value.field == "title"
    with pytest.raises(DomainError, match="past") as refused:
        services.finding_raise(actor=reviewers[0], version=version, title="t", description="x", severity="high",
                               owner=version.model.accountable_owner,
                               due_date=timezone.localdate() - timedelta(days=1))


def open_incident(actor, model, **kwargs):
    now = timezone.now()
    values = {"title": "Applicants refused in error", "description": "Scores were zero for an hour.",
              "impact": "312 applicants refused.", "occurred_at": now - timedelta(hours=5),
              "aware_at": now - timedelta(hours=4), **kwargs}
    return services.incident_open(actor=actor, model=model, **values)


def test_an_open_incident_is_a_red_flag_and_a_tallied_key_until_it_is_closed(reviewers):
    model = assessed_version().model
    incident = open_incident(reviewers[0], model)
    row = ModelGovernance.objects.get(model=model)
    flags = {flag["kind"]: flag for flag in row.flags}
    assert flags["incident_open"]["severity"] == "high"
    assert flags["incident_open"]["url"] == incident.get_absolute_url()
    assert "flag:incident_open:high" in row.tally and "incident_open" in row.codes
    assert Notification.objects.filter(recipient=model.accountable_owner, url=incident.get_absolute_url()).exists()
    with pytest.raises(DomainError, match="root cause and the corrective actions"):
        services.incident_transition(actor=reviewers[0], incident=incident, status="closed", note="x" * 30)
    services.incident_update(actor=reviewers[0], incident=incident, root_cause="A feature store outage.",
                             corrective_actions="Fallback to the last good scores; alert on zero scores.")
    services.incident_transition(actor=reviewers[1], incident=incident, status="closed",
                                 note="Fallback tested in staging and production.")
    row = ModelGovernance.objects.get(model=model)
    assert "incident_open" not in row.codes and not any(f["kind"] == "incident_open" for f in row.flags)
    assert governance.governance_verify() == []
    actions = list(AuditEvent.objects.filter(object_id=str(incident.pk), object_type="findings.incident")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["incident.opened", "incident.updated", "incident.closed"]


def test_a_serious_incident_unreported_past_its_deadline_makes_the_model_non_compliant(reviewers):
    model = assessed_version().model
    aware = timezone.now() - timedelta(days=3)
    incident = open_incident(reviewers[0], model, serious_kind="widespread", aware_at=aware,
                             occurred_at=aware - timedelta(hours=1))
    assert incident.report_deadline == (aware + timedelta(days=2)).date()
    row = ModelGovernance.objects.get(model=model)
    assert "incident_report_overdue" in row.codes and row.status == "non_compliant"
    with pytest.raises(DomainError, match="report to the authority"):
        services.incident_update(actor=reviewers[0], incident=incident, root_cause="r", corrective_actions="c")
        services.incident_transition(actor=reviewers[0], incident=incident, status="closed", note="x" * 30)
    services.incident_update(actor=reviewers[0], incident=incident, reported_at=timezone.now(),
                             report_reference="MSA-2026-0042")
    row = ModelGovernance.objects.get(model=model)
    assert "incident_report_overdue" not in row.codes and "incident_open" in row.codes
    assert [e.text for e in incident.entries.order_by("at", "pk")][-1] == "Reported to the authority (MSA-2026-0042)."


def test_an_incident_report_falls_due_while_nobody_touches_it(reviewers):
    model = assessed_version().model
    open_incident(reviewers[0], model, serious_kind="widespread")
    assert "incident_report_overdue" not in ModelGovernance.objects.get(model=model).codes
    governance.governance_refresh_due(now=timezone.now() + timedelta(days=3))
    assert "incident_report_overdue" in ModelGovernance.objects.get(model=model).codes


def test_an_incident_is_refused_when_its_dates_make_no_sense(reviewers):
    model = assessed_version().model
    now = timezone.now()
    with pytest.raises(DomainError, match="before it happened") as refused:
        open_incident(reviewers[0], model, occurred_at=now - timedelta(hours=1), aware_at=now - timedelta(hours=2))
    assert refused.value.field == "aware_at"
    with pytest.raises(DomainError, match="Only a serious incident"):
        open_incident(reviewers[0], model, reported_at=now)


def test_an_executive_cannot_record_an_incident(make_user):
    with pytest.raises(PermissionDeniedError):
        open_incident(make_user("executive"), assessed_version().model)

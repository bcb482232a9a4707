"""Writes of findings and incidents: each one audited in its transaction, each one telling the governance state.

``finding_raise`` / ``incident_open`` write the audit actions ``finding.opened`` / ``incident.opened`` that
webhooks subscribe to; the finding's owner and the model's accountable owner are notified (outbox).
"""

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from apps.core.errors import DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record, changes_between
from apps.findings import rules
from apps.findings.models import Finding, Incident, IncidentEntry
from apps.inventory.models import MLModel, ModelVersion
from apps.inventory.signals import governance_changed
from apps.notifications.services import notify

FINDING_FIELDS = ("title", "description", "severity", "owner", "due_date", "remediation")
INCIDENT_FIELDS = ("title", "description", "impact", "root_cause", "corrective_actions", "occurred_at", "aware_at",
                   "serious_kind", "reported_at", "report_reference", "version")


def _text(value: str, field: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"Give the {what}.", field=field)
    return value


def _plain(values: dict) -> dict:
    """Audit-friendly values: people by username, dates as ISO strings."""
    plain = {}
    for key, value in values.items():
        if hasattr(value, "get_username"):
            value = value.get_username()
        elif isinstance(value, ModelVersion):
            value = value.version
        elif isinstance(value, date | datetime):
            value = value.isoformat()
        plain[key] = value
    return plain


def _check_finding(values: dict) -> None:
    _text(values.get("title"), "title", "finding a title")
    _text(values.get("description"), "description", "description of what was found")
    if values.get("severity") not in rules.SEVERITIES:
        raise DomainError(f"Choose a severity: {', '.join(rules.SEVERITIES)}.", field="severity")
    owner = values.get("owner")
    if owner is None or not owner.is_active:
        raise DomainError("Name an active person who will remediate the finding.", field="owner")
    if values.get("due_date") is None:
        raise DomainError("Give the date the remediation is due.", field="due_date")


def _tell_finding(finding: Finding, subject: str, body: str) -> None:
    model = finding.version.model
    for person in {finding.owner, model.accountable_owner}:
        notify(recipient=person, subject=subject, body=body, url=finding.get_absolute_url(), kind="finding",
               action="Open the finding")


@transaction.atomic
def finding_raise(*, actor, version: ModelVersion, title: str, description: str, severity: str, owner,
                  due_date: date, remediation: str = "") -> Finding:
    """A reviewer records a validation finding against a version; its owner hears of it."""
    require(actor, Capability.RAISE_FINDING)
    values = {"title": title, "description": description, "severity": severity, "owner": owner,
              "due_date": due_date, "remediation": remediation or ""}
    _check_finding(values)
    if due_date < timezone.localdate():
        raise DomainError("The due date cannot be in the past.", field="due_date")
    values["title"], values["description"] = values["title"].strip(), values["description"].strip()
    finding = Finding.objects.create(version=version, raised_by=actor, **values)
    audit_record(actor=actor, action="finding.opened", obj=finding,
                 changes={key: [None, value] for key, value in _plain({**values, "version": version}).items()})
    _tell_finding(finding, f"New {severity} finding on {version}: {finding.title}",
                  f"Remediate it by {due_date:%d %b %Y}. {finding.description[:300]}")
    governance_changed(model_ids=[version.model_id], actor=actor, cause=f"finding #{finding.pk} opened")
    return finding


def _locked_finding(finding: Finding) -> Finding:
    return Finding.objects.select_for_update().select_related("version__model", "owner").get(pk=finding.pk)


@transaction.atomic
def finding_update(*, actor, finding: Finding, **values) -> Finding:
    """Change a finding's description, severity, owner, due date or remediation plan (a closed one is frozen).

    The raising reviewers and admins change anything; the owner and the model's team only the remediation.
    """
    finding = _locked_finding(finding)
    unknown = sorted(set(values) - set(FINDING_FIELDS))
    if unknown:
        raise DomainError(f"Unknown finding fields: {', '.join(unknown)}.", field=unknown[0])
    if not finding.is_open:
        raise DomainError("A closed finding is frozen; raise a new one if the problem came back.")
    if set(values) - {"remediation"}:
        require(actor, Capability.RAISE_FINDING)
    else:
        require(actor, Capability.REMEDIATE_FINDING, finding)
    before = {key: getattr(finding, key) for key in FINDING_FIELDS}
    after = {**before, **values}
    _check_finding(after)
    changes = changes_between(_plain(before), _plain(after))
    if not changes:
        return finding
    for key, value in values.items():
        setattr(finding, key, value.strip() if isinstance(value, str) else value)
    finding.save(update_fields=[*values, "updated_at"])
    audit_record(actor=actor, action="finding.updated", obj=finding, changes=changes)
    if "owner" in changes:
        _tell_finding(finding, f"You now own the finding {finding.title}",
                      f"Remediate it by {finding.due_date:%d %b %Y}.")
    governance_changed(model_ids=[finding.version.model_id], actor=actor, cause=f"finding #{finding.pk} changed")
    return finding


@transaction.atomic
def finding_transition(*, actor, finding: Finding, status: str, note: str = "") -> Finding:
    """Open -> remediating -> closed. Closing needs a closing note, and a reviewer or admin who is not the owner."""
    finding = _locked_finding(finding)
    problem = rules.finding_move_problem(finding.status, status)
    if problem:
        raise DomainError(problem, field="status")
    note = (note or "").strip()
    if status == rules.CLOSED:
        require(actor, Capability.CLOSE_FINDING, finding)
        if len(note) < rules.MIN_NOTE:
            raise DomainError(f"Say how the fix was checked before closing (at least {rules.MIN_NOTE} characters).",
                              field="note")
        finding.closing_note, finding.closed_by, finding.closed_at = note, actor, timezone.now()
    else:
        require(actor, Capability.REMEDIATE_FINDING, finding)
    before = finding.status
    finding.status = status
    finding.save(update_fields=["status", "closing_note", "closed_by", "closed_at", "updated_at"])
    audit_record(actor=actor, action="finding.closed" if status == rules.CLOSED else "finding.status_changed",
                 obj=finding, changes={"status": [before, status]}, reason=note)
    if status == rules.CLOSED:
        _tell_finding(finding, f"Finding closed: {finding.title}", note[:300])
    governance_changed(model_ids=[finding.version.model_id], actor=actor,
                       cause=f"finding #{finding.pk} {rules.FINDING_STATUSES[status].lower()}")
    return finding


# --- Incidents -------------------------------------------------------------------------------------

def _check_incident(values: dict, model: MLModel) -> None:
    _text(values.get("title"), "title", "incident a title")
    _text(values.get("description"), "description", "description of what happened")
    _text(values.get("impact"), "impact", "impact: who or what was harmed, and how much")
    occurred, aware = values.get("occurred_at"), values.get("aware_at")
    if occurred is None:
        raise DomainError("Give when it happened.", field="occurred_at")
    if aware is None:
        raise DomainError("Give when we became aware of it: the reporting deadline counts from then.",
                          field="aware_at")
    now = timezone.now()
    if occurred > now or aware > now:
        raise DomainError("An incident cannot happen, or become known, in the future.", field="occurred_at")
    if aware < occurred:
        raise DomainError("We cannot have become aware of it before it happened.", field="aware_at")
    if values.get("serious_kind", "") not in rules.SERIOUS_KINDS:
        kinds = ", ".join(kind for kind in rules.SERIOUS_KINDS if kind)
        raise DomainError(f"Unknown kind of serious incident; use one of {kinds} or leave it empty.",
                          field="serious_kind")
    reported = values.get("reported_at")
    if reported is not None and not values.get("serious_kind"):
        raise DomainError("Only a serious incident is reported to the authority; mark it serious first.",
                          field="reported_at")
    if reported is not None and (reported < aware or reported > now):
        raise DomainError("The report date lies between becoming aware of it and now.", field="reported_at")
    version = values.get("version")
    if version is not None and version.model_id != model.pk:
        raise DomainError(f"Version {version.version} is not a version of {model}.", field="version")


def _tell_incident(incident: Incident, subject: str, body: str) -> None:
    notify(recipient=incident.model.accountable_owner, subject=subject, body=body, url=incident.get_absolute_url(),
           kind="incident", action="Open the incident")


@transaction.atomic
def incident_open(*, actor, model: MLModel, title: str, description: str, impact: str, occurred_at: datetime,
                  aware_at: datetime, serious_kind: str = "", version: ModelVersion | None = None,
                  root_cause: str = "", corrective_actions: str = "", reported_at: datetime | None = None,
                  report_reference: str = "") -> Incident:
    """Record a production failure or harm of ``model``; its accountable owner hears of it at once."""
    require(actor, Capability.RECORD_INCIDENT, model)
    values = {"title": title, "description": description, "impact": impact, "occurred_at": occurred_at,
              "aware_at": aware_at, "serious_kind": serious_kind or "", "version": version,
              "root_cause": root_cause or "", "corrective_actions": corrective_actions or "",
              "reported_at": reported_at, "report_reference": report_reference or ""}
    _check_incident(values, model)
    incident = Incident.objects.create(model=model, opened_by=actor, **values)
    IncidentEntry.objects.create(incident=incident, at=aware_at, author=actor,
                                 text=f"Became aware of it and recorded it: {incident.title}")
    audit_record(actor=actor, action="incident.opened", obj=incident,
                 changes={key: [None, value] for key, value in _plain(values).items() if value not in ("", None)})
    deadline = incident.report_deadline
    due = f" It is a serious incident: report it to the authority by {deadline:%d %b %Y}." if deadline else ""
    _tell_incident(incident, f"Incident on {model}: {incident.title}", f"{incident.impact[:300]}{due}")
    governance_changed(model_ids=[model.pk], actor=actor, cause=f"incident #{incident.pk} opened")
    return incident


def _locked_incident(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().select_related("model__accountable_owner").get(pk=incident.pk)


@transaction.atomic
def incident_update(*, actor, incident: Incident, **values) -> Incident:
    """Change what is known of an incident (root cause, corrective actions, seriousness, the report made)."""
    incident = _locked_incident(incident)
    require(actor, Capability.RECORD_INCIDENT, incident.model)
    unknown = sorted(set(values) - set(INCIDENT_FIELDS))
    if unknown:
        raise DomainError(f"Unknown incident fields: {', '.join(unknown)}.", field=unknown[0])
    if not incident.is_open:
        raise DomainError("A closed incident is frozen; add to its timeline or open a new one.")
    before = {key: getattr(incident, key) for key in INCIDENT_FIELDS}
    values = {key: ("" if value is None and key not in ("reported_at", "version") else value)
              for key, value in values.items()}
    after = {**before, **values}
    _check_incident(after, incident.model)
    changes = changes_between(_plain(before), _plain(after))
    if not changes:
        return incident
    for key, value in values.items():
        setattr(incident, key, value.strip() if isinstance(value, str) else value)
    incident.save(update_fields=[*values, "updated_at"])
    audit_record(actor=actor, action="incident.updated", obj=incident, changes=changes)
    if "reported_at" in changes and incident.reported_at:
        reference = f" ({incident.report_reference})" if incident.report_reference else ""
        IncidentEntry.objects.create(incident=incident, at=incident.reported_at, author=actor,
                                     text=f"Reported to the authority{reference}.")
    governance_changed(model_ids=[incident.model_id], actor=actor, cause=f"incident #{incident.pk} changed")
    return incident


@transaction.atomic
def incident_add_entry(*, actor, incident: Incident, at: datetime, text: str) -> IncidentEntry:
    """Append a dated line to the timeline (what was seen, decided or done)."""
    incident = _locked_incident(incident)
    require(actor, Capability.RECORD_INCIDENT, incident.model)
    text = _text(text, "text", "entry's text")
    if at is None or at > timezone.now():
        raise DomainError("Give when it happened; not in the future.", field="at")
    if at < incident.occurred_at:
        raise DomainError("A timeline entry cannot precede the incident itself.", field="at")
    entry = IncidentEntry.objects.create(incident=incident, at=at, text=text, author=actor)
    audit_record(actor=actor, action="incident.entry_added", obj=incident,
                 changes={"timeline": [None, f"{at.isoformat()} {text[:200]}"]})
    return entry


@transaction.atomic
def incident_transition(*, actor, incident: Incident, status: str, note: str = "") -> Incident:
    """Open <-> contained -> closed. Closing needs the root cause, the corrective actions, the report when it is
    serious, and a reviewer or admin."""
    incident = _locked_incident(incident)
    if status not in rules.INCIDENT_STATUSES:
        raise DomainError(f"Unknown status {status!r}.", field="status")
    if status == incident.status:
        raise DomainError(f"The incident is already {rules.INCIDENT_STATUSES[status].lower()}.", field="status")
    if not incident.is_open:
        raise DomainError("A closed incident stays closed; open a new one if it happened again.", field="status")
    note = (note or "").strip()
    if status == rules.INCIDENT_CLOSED:
        require(actor, Capability.CLOSE_INCIDENT)
        missing = [what for what, value in (("root cause", incident.root_cause),
                                            ("corrective actions", incident.corrective_actions)) if not value.strip()]
        if missing:
            raise DomainError(f"Record the {' and the '.join(missing)} before closing.", field="status")
        if incident.serious and incident.reported_at is None:
            raise DomainError("A serious incident is closed only once its report to the authority is recorded.",
                              field="status")
        if len(note) < rules.MIN_NOTE:
            raise DomainError(f"Say why it can be closed (at least {rules.MIN_NOTE} characters).", field="note")
        incident.closed_by, incident.closed_at = actor, timezone.now()
    else:
        require(actor, Capability.RECORD_INCIDENT, incident.model)
    before = incident.status
    incident.status = status
    incident.save(update_fields=["status", "closed_by", "closed_at", "updated_at"])
    label = rules.INCIDENT_STATUSES[status].split(" (")[0]
    IncidentEntry.objects.create(incident=incident, at=timezone.now(), author=actor,
                                 text=f"{label}." + (f" {note}" if note else ""))
    action = "incident.closed" if status == rules.INCIDENT_CLOSED else "incident.status_changed"
    audit_record(actor=actor, action=action, obj=incident, changes={"status": [before, status]}, reason=note)
    governance_changed(model_ids=[incident.model_id], actor=actor, cause=f"incident #{incident.pk} {status}")
    return incident

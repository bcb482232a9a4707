"""Reads of findings and incidents: the lists' querysets, a version's and a model's records for documents, and
what the governance state and the compliance evidence read (each in a constant number of queries)."""

from collections import defaultdict

from django.db.models import Count, Max, Q

from apps.findings import rules
from apps.findings.models import Finding, Incident, IncidentEntry


def findings_list():
    return Finding.objects.select_related("version__model", "owner", "raised_by", "closed_by")


def incidents_list():
    return Incident.objects.select_related("model", "version", "opened_by", "closed_by")


def findings_for_version(version):
    """A version's findings, oldest first (for generated documents)."""
    return findings_list().filter(version=version).order_by("created_at", "pk")


def incidents_for_model(model):
    """A model's incidents, in the order they happened, with their timelines (for generated documents)."""
    return incidents_list().filter(model=model).prefetch_related("entries").order_by("occurred_at", "pk")


def finding_detail(pk: int) -> Finding:
    return findings_list().get(pk=pk)


def incident_detail(pk: int) -> Incident:
    return incidents_list().get(pk=pk)


def timeline(incident) -> list[IncidentEntry]:
    return list(incident.entries.select_related("author").order_by("at", "pk"))


def open_findings_of(version) -> list[tuple[int, str, str, object]]:
    """(pk, title, severity, due date) of the version's open findings, most severe first."""
    rows = Finding.objects.filter(version=version).exclude(status=rules.CLOSED).values_list(
        "pk", "title", "severity", "due_date")
    return sorted(rows, key=lambda row: (-rules.RANK[row[2]], row[3], row[0]))


def open_incidents_of(model) -> list[Incident]:
    return list(Incident.objects.filter(model=model).exclude(status=rules.INCIDENT_CLOSED).order_by("aware_at", "pk"))


def findings_by_model(model_ids, today) -> dict[int, dict]:
    """Per model: open, overdue (open past due) and closed findings, and the newest closing (one query)."""
    closed = Q(status=rules.CLOSED)
    rows = (Finding.objects.filter(version__model_id__in=list(model_ids)).values("version__model_id")
            .annotate(open=Count("pk", filter=~closed), overdue=Count("pk", filter=~closed & Q(due_date__lt=today)),
                      closed=Count("pk", filter=closed), closed_at=Max("closed_at")))
    return {row["version__model_id"]: row for row in rows}


def incidents_by_model(model_ids) -> dict[int, list[Incident]]:
    """Every incident of these models (one query), for the compliance evidence."""
    found: dict[int, list[Incident]] = defaultdict(list)
    for incident in Incident.objects.filter(model_id__in=list(model_ids)).order_by("aware_at", "pk"):
        found[incident.model_id].append(incident)
    return dict(found)


def search(rows, q: str):
    return rows.filter(Q(title__icontains=q) | Q(description__icontains=q)) if q else rows

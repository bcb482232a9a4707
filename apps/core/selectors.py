"""Reads of the core app."""

from apps.core.models import AuditEvent, AuditVerification


def audit_events(*, filters: dict | None = None):
    from apps.core.filters import AuditEventFilter

    queryset = AuditEvent.objects.select_related("actor").order_by("-seq")
    return AuditEventFilter(filters or {}, queryset=queryset)


def audit_history_for(obj, *, limit: int = 20):
    return list(AuditEvent.objects.for_object(obj).order_by("-seq")[:limit])


def last_audit_verification() -> AuditVerification | None:
    return AuditVerification.objects.order_by("-finished_at").first()

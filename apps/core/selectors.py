"""Reads of the core app."""

from django.db.models import Q
from django.utils import timezone

from apps.core.models import ApiToken, AuditEvent, AuditVerification, hash_api_key


def audit_events(*, filters: dict | None = None):
    from apps.core.filters import AuditEventFilter

    queryset = AuditEvent.objects.select_related("actor").order_by("-seq")
    return AuditEventFilter(filters or {}, queryset=queryset)


def audit_history_for(obj, *, limit: int = 20):
    return list(AuditEvent.objects.for_object(obj).order_by("-seq")[:limit])


def last_audit_verification() -> AuditVerification | None:
    return AuditVerification.objects.order_by("-finished_at").first()


def api_token_for_key(key: str) -> ApiToken | None:
    """The token whose key is ``key`` (revoked and expired ones too: the caller says which it was)."""
    return ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()


def api_tokens_of(*, user) -> list[ApiToken]:
    """``user``'s tokens that still work, newest first."""
    now = timezone.now()
    return list(
        ApiToken.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), user=user, revoked_at__isnull=True)
        .order_by("-created_at")
    )

"""Reads of the core app."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.timesince import timesince

from apps.core import checkpoints
from apps.core.audit_chain import Checkpoint, signature_ok
from apps.core.models import (
    AUDIT_CHECKPOINTED,
    AUDIT_VERIFIED,
    ApiToken,
    AuditEvent,
    AuditVerification,
    hash_api_key,
)


def audit_events(*, filters: dict | None = None):
    from apps.core.filters import AuditEventFilter

    queryset = AuditEvent.objects.select_related("actor").order_by("-seq")
    return AuditEventFilter(filters or {}, queryset=queryset)


def audit_history_for(obj, *, limit: int = 20):
    return list(AuditEvent.objects.for_object(obj).select_related("actor").order_by("-seq")[:limit])


RECORDED_RESULT_FIELDS = ("ok", "checked", "first_bad_seq")


def recorded_result(event: AuditEvent) -> dict:
    """What the trail's ``audit.verified`` event says the check found."""
    return {name: event.changes.get(name, [None, None])[1] for name in RECORDED_RESULT_FIELDS}


def result_matches_record(verification: AuditVerification, event: AuditEvent) -> bool:
    return all(getattr(verification, name) == value for name, value in recorded_result(event).items())


@dataclass(frozen=True)
class TamperedVerification:
    """Stands in for a verification result the trail records but the results table no longer holds as recorded."""

    finished_at: datetime
    triggered_by: str
    passed: bool
    how: str  # "deleted" or "changed"
    ok = False

    @property
    def message(self) -> str:
        return (f"The result of this check ({'passed' if self.passed else 'failed'}, says the audit trail) was "
                f"{self.how} in the database. Run manage.py verify_audit.")


def last_audit_verification() -> AuditVerification | TamperedVerification | None:
    """The newest verification result the trail records, as the trail records it.

    Read through the hash-chained ``audit.verified`` event, so a result row deleted, edited (a failure turned
    into a pass) or inserted behind the ORM cannot change what the pages say.
    """
    recorded = AuditEvent.objects.filter(action=AUDIT_VERIFIED).order_by("-seq").first()
    if recorded is None:
        return None
    row = AuditVerification.objects.filter(pk=recorded.object_id).first()
    if row is not None and result_matches_record(row, recorded):
        return row
    return TamperedVerification(recorded.created_at, recorded.reason, bool(recorded_result(recorded)["ok"]),
                                "deleted" if row is None else "changed")


@dataclass(frozen=True)
class AnchorStatus:
    """Whether the newest checkpoint still matches the trail and is recent enough to vouch for it."""

    checkpoint: Checkpoint | None
    ok: bool
    message: str


def audit_anchor_status() -> AnchorStatus:
    path = checkpoints.checkpoint_path()
    try:
        checkpoint = checkpoints.last_checkpoint(path)
    except OSError as error:
        return AnchorStatus(None, False, f"The checkpoint file cannot be read: {error}.")
    if checkpoint is None:
        return AnchorStatus(None, False, "No audit checkpoint written yet: nothing outside the database vouches for "
                                         "the trail. Run celery beat, or manage.py audit_checkpoint.")
    if not signature_ok(checkpoint, checkpoints.verification_keys()):
        return AnchorStatus(checkpoint, False, f"The signature of {checkpoint.describe()} does not verify: the "
                                               "checkpoint file was edited or forged. Run manage.py verify_audit.")
    signed = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
    if checkpoint.seq and signed != checkpoint.head:
        return AnchorStatus(checkpoint, False, f"The trail no longer holds event seq={checkpoint.seq} as signed in "
                                               f"{checkpoint.describe()}: events were deleted or rewritten. "
                                               "Run manage.py verify_audit.")
    written = datetime.fromisoformat(checkpoint.created_at)
    age = timesince(written)
    newer = AuditEvent.objects.filter(seq__gt=checkpoint.seq).exclude(
        action=AUDIT_CHECKPOINTED, object_id=str(checkpoint.n)).count()
    if not newer:
        return AnchorStatus(checkpoint, True, f"Checkpoint #{checkpoint.n} ({age} ago) vouches for every event.")
    if timezone.now() - written <= timedelta(minutes=3 * settings.PORTAL_AUDIT_CHECKPOINT_MINUTES):
        return AnchorStatus(checkpoint, True, f"Checkpoint #{checkpoint.n} ({age} ago) vouches for events up to "
                                              f"seq={checkpoint.seq}; {newer} newer await the next one.")
    return AnchorStatus(checkpoint, False, f"Checkpoints are stale: the newest (#{checkpoint.n}) is {age} old and "
                                           f"{newer} newer events are not anchored. Is celery beat running?")


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

"""Writes of the core app: the audit trail and API tokens."""

from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.core.audit_chain import GENESIS_HASH, ChainReport, compute_hash, verify_chain
from apps.core.models import AuditEvent, AuditVerification
from apps.core.request_context import request_id_var

_AUDIT_LOCK_KEY = 7_316_001  # arbitrary constant naming the audit chain's advisory lock


def _lock_chain() -> None:
    """Serialise appends so two transactions never chain onto the same event.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every transaction is
    BEGIN IMMEDIATE (see settings), which already holds the database write lock.
    The unique ``seq`` and ``hash`` columns are the last line of defence.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK_KEY])


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


@transaction.atomic
def audit_record(
    *,
    actor,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the audit trail, in the caller's transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:300]
    _lock_chain()
    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    actor = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent(
        seq=(last["seq"] + 1) if last else 1,
        created_at=timezone.now(),
        actor=actor,
        actor_username=actor.get_username() if actor else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr,
        changes=dict(changes or {}),
        reason=reason,
        request_id=request_id_var.get(),
        prev_hash=last["hash"] if last else GENESIS_HASH,
    )
    event.hash = compute_hash(event.hashed_fields())
    event.save(force_insert=True)
    return event


def audit_verify(*, triggered_by: str, batch_size: int = 2000) -> ChainReport:
    """Walk the whole chain, record the outcome, and return the report."""
    started = timezone.now()
    fields = ["id", *[f for f in AuditEvent().hashed_fields() if f != "id"]]
    rows = AuditEvent.objects.order_by("seq").values(*fields).iterator(chunk_size=batch_size)
    report = verify_chain(rows)
    AuditVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=report.ok,
        checked=report.checked,
        first_bad_seq=report.first_bad_seq,
        message=str(report),
        triggered_by=triggered_by,
    )
    return report


@transaction.atomic
def api_token_issue(*, user, actor=None, rotate: bool = False) -> Token:
    """Return the user's API token, creating it (or replacing it when ``rotate``)."""
    existing = Token.objects.select_for_update().filter(user=user).first()
    if existing and not rotate:
        return existing
    if existing:
        existing.delete()
    token = Token.objects.create(user=user)
    audit_record(
        actor=actor or user,
        action="api_token.rotated" if existing else "api_token.created",
        obj=user,
        object_repr=f"API token of {user.get_username()}",
    )
    return token

"""Writes of the core app: the audit trail, API tokens and passwords."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from apps.core.audit_chain import GENESIS_HASH, ChainReport, compute_hash, verify_chain
from apps.core.errors import ConflictError, PermissionDeniedError
from apps.core.models import ApiToken, AuditEvent, AuditVerification, hash_api_key, new_api_key
from apps.core.request_context import request_id_var
from apps.core.roles import Role, has_role

# How stale ``ApiToken.last_used_at`` may be: writing it on every API call would make every read a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=5)

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


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its key, which exists only here: the database keeps its hash."""

    token: ApiToken
    key: str


def _token_audit(*, actor, token: ApiToken, action: str, changes: dict, reason: str = "") -> None:
    # Recorded on the user, so their account history shows who could act as them and until when.
    audit_record(
        actor=actor,
        action=action,
        obj=token.user,
        object_repr=f"{token} (#{token.pk})"[:300],
        changes=changes,
        reason=reason,
    )


@transaction.atomic
def api_token_issue(*, user, actor=None, name: str = "", rotate: bool = False) -> IssuedToken:
    """Create an API token for ``user``; with ``rotate``, revoke their other tokens first.

    The key is returned once and never stored. It expires after ``PORTAL_API_TOKEN_DAYS`` (0: never).
    """
    actor = actor or user
    if actor != user and not has_role(actor, Role.ADMIN):
        raise PermissionDeniedError("Only administrators may create API tokens for someone else.")
    if not user.is_active:
        raise ConflictError(f"{user.get_username()} is inactive; an inactive user cannot use the API.")
    if rotate:
        for token in ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True):
            token.user = user
            _revoke(actor=actor, token=token, reason="Replaced by a new token")
    key = new_api_key()
    days = settings.PORTAL_API_TOKEN_DAYS
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        key_hash=hash_api_key(key),
        prefix=key[: ApiToken.PREFIX_LENGTH],
        expires_at=timezone.now() + timedelta(days=days) if days > 0 else None,
    )
    _token_audit(actor=actor, token=token, action="api_token.created", changes={
        "token": [None, token.pk], "prefix": [None, token.prefix], "name": [None, token.name],
        "expires_at": [None, token.expires_at.isoformat() if token.expires_at else None]})
    return IssuedToken(token=token, key=key)


def _revoke(*, actor, token: ApiToken, reason: str) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    _token_audit(actor=actor, token=token, action="api_token.revoked", reason=reason,
                 changes={"revoked_at": [None, token.revoked_at.isoformat()]})


@transaction.atomic
def api_token_revoke(*, actor, token: ApiToken, reason: str = "") -> ApiToken:
    """Revoke ``token`` at once; its owner or an administrator may."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if actor != token.user and not has_role(actor, Role.ADMIN):
        raise PermissionDeniedError("Only the token's owner or an administrator may revoke it.")
    if token.revoked_at is not None:
        raise ConflictError(f"{token} was already revoked on {token.revoked_at:%Y-%m-%d %H:%M}.")
    _revoke(actor=actor, token=token, reason=reason)
    return token


def api_token_mark_used(*, token: ApiToken, now: datetime) -> None:
    """Note that ``token`` was used, at most once per ``TOKEN_USE_RESOLUTION``.

    Bookkeeping, not a change of anyone's rights, so not audited. The conditional update keeps two
    concurrent requests from writing twice.
    """
    stale = now - TOKEN_USE_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=token.pk).update(
        last_used_at=now)


@transaction.atomic
def user_password_change(*, user, password: str) -> None:
    """Set ``user``'s password (already validated by the form) and record that it changed."""
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="user.password_changed", obj=user, changes={"password": ["", "(changed)"]})

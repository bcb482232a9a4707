"""Writes of the core app: the audit trail, its checkpoints, API tokens and passwords."""

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from apps.core import checkpoints, selectors
from apps.core.audit_chain import (
    GENESIS_HASH,
    AuditReport,
    Checkpoint,
    CheckpointLog,
    compute_hash,
    sign_checkpoint,
    verify_chain,
)
from apps.core.errors import ConflictError, PermissionDeniedError
from apps.core.models import (
    AUDIT_CHECKPOINTED,
    AUDIT_VERIFIED,
    ApiToken,
    AuditEvent,
    AuditVerification,
    ExternalIdentity,
    hash_api_key,
    new_api_key,
)
from apps.core.request_context import request_id_var
from apps.core.roles import Capability, Role, may, user_roles
from apps.core.signals import audit_recorded

logger = logging.getLogger(__name__)

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
    audit_recorded.send(sender=AuditEvent, event=event, obj=obj)
    return event


def audit_checkpoint(*, triggered_by: str, only_if_moved: bool = False) -> Checkpoint | None:
    """Sign the chain's head, append it outside the database, and record it in the trail.

    Call outside any transaction that wrote events: the head it signs must be committed, or a rollback
    would leave a checkpoint naming an event that never existed. The file line comes first and the trail's
    record of it second, so the trail never names a checkpoint the file lacks. With ``only_if_moved`` (the
    periodic task) nothing is written while the newest event is the previous checkpoint's own record.
    """
    path = checkpoints.checkpoint_path()
    with checkpoints.locked_for_append(path) as fd:
        previous = checkpoints.last_checkpoint(path)
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash", "action", "object_id").first()
        if only_if_moved and previous and head and head["action"] == AUDIT_CHECKPOINTED \
                and head["object_id"] == str(previous.n):
            return None
        seq, head_hash = (head["seq"], head["hash"]) if head else (0, GENESIS_HASH)
        checkpoint = sign_checkpoint(checkpoints.signing_key(), after=previous, seq=seq, head=head_hash,
                                     created_at=timezone.now().isoformat())
        checkpoints.append(fd, checkpoint)
        audit_record(
            actor=None,
            action=AUDIT_CHECKPOINTED,
            object_type="core.auditcheckpoint",
            object_id=str(checkpoint.n),
            object_repr=checkpoint.describe(),
            changes={"seq": [None, seq], "head": [None, head_hash], "mac": [None, checkpoint.mac]},
            reason=triggered_by,
        )
    return checkpoint


def audit_verify(*, triggered_by: str, shipped: Sequence[Path] = (), batch_size: int = 2000) -> AuditReport:
    """Walk the whole chain against the checkpoints, record the outcome, and return the report.

    ``shipped`` are copies of the checkpoint log kept off the host; they vouch for the chain like the local
    file and reveal lines deleted from it. Every check ends with a fresh checkpoint.
    """
    started = timezone.now()
    # Read the trail's record of checkpoints before the file, and the file before the events: a checkpoint
    # written meanwhile then never looks missing.
    recorded = AuditEvent.objects.filter(action=AUDIT_CHECKPOINTED).order_by("-seq").first()
    path = checkpoints.checkpoint_path()
    local = checkpoints.read_file(path)
    copies = [checkpoints.read_shipped(copy) for copy in shipped]
    problems = [*(local.problems if local else ()), *_file_against_trail(local, recorded, path)]
    for copy, copy_path in zip(copies, shipped, strict=True):
        problems += [*copy.problems, *_file_against_copy(local, copy, path, copy_path)]
    anchors = [*(local.checkpoints if local else ()), *(c for copy in copies for c in copy.checkpoints)]
    fields = ["id", *[f for f in AuditEvent().hashed_fields() if f != "id"]]
    rows = AuditEvent.objects.order_by("seq").values(*fields).iterator(chunk_size=batch_size)
    chain = verify_chain(rows, anchors)
    problems += _tampered_verifications()
    notes = () if anchors or recorded else (
        "No checkpoint existed yet, so nothing outside the database vouched for the trail before this check.",)
    report = AuditReport(chain, tuple(problems), notes)
    with transaction.atomic():
        verification = AuditVerification.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            ok=report.ok,
            checked=report.checked,
            first_bad_seq=report.first_bad_seq,
            message=str(report),
            triggered_by=triggered_by,
        )
        audit_record(
            actor=None,
            action=AUDIT_VERIFIED,
            obj=verification,
            changes={"ok": [None, report.ok], "checked": [None, report.checked],
                     "first_bad_seq": [None, report.first_bad_seq]},
            reason=triggered_by,
        )
    # After a failed check too: the record of the failure is then anchored at once, not at the next beat tick.
    audit_checkpoint(triggered_by=f"verify_audit ({triggered_by})")
    return report


def _file_against_trail(local: CheckpointLog | None, recorded: AuditEvent | None, path: Path) -> list[str]:
    """The trail records each checkpoint written: the file must still hold the newest one it names."""
    if recorded is None:
        return []
    described = f"checkpoint #{recorded.object_id} (recorded as event seq={recorded.seq})"
    if local is None:
        return [f"the checkpoint file {path} is missing, yet the trail records {described} (deleted or moved)"]
    line = next((c for c in local.checkpoints if str(c.n) == recorded.object_id), None)
    if line is None:
        last = f"#{local.last.n}" if local.last else "no valid checkpoint"
        return [f"{path} lost lines: the trail records {described}, but the file ends at {last}"]
    if line.mac != recorded.changes.get("mac", [None, None])[1]:
        return [f"{path} holds a {described} other than the one the trail recorded (replaced)"]
    return []


def _file_against_copy(local: CheckpointLog | None, copy: CheckpointLog, path: Path, copy_path: Path) -> list[str]:
    """Every checkpoint in a shipped copy must still be in the local file, unchanged."""
    held = {c.n: c.mac for c in local.checkpoints} if local else {}
    lost = [c for c in copy.checkpoints if c.n not in held]
    changed = [c for c in copy.checkpoints if c.n in held and held[c.n] != c.mac]
    problems = []
    if lost:
        problems.append(f"{path} lost lines: {len(lost)} checkpoint(s) in {copy_path} are not in it, "
                        f"the newest {lost[-1].describe()}")
    if changed:
        problems.append(f"{path} differs from {copy_path} at {changed[0].describe()} (replaced)")
    return problems


def _tampered_verifications() -> list[str]:
    """Each verification result is recorded in the trail: a result row deleted or edited behind the ORM is named."""
    kept = {str(row.pk): row for row in AuditVerification.objects.all()}
    problems = []
    for event in AuditEvent.objects.filter(action=AUDIT_VERIFIED):
        row = kept.get(event.object_id)
        if row is not None and selectors.result_matches_record(row, event):
            continue
        said = "passed" if selectors.recorded_result(event)["ok"] else "failed"
        problems.append(f"verification result #{event.object_id} of {event.created_at:%Y-%m-%d %H:%M} ({said}) "
                        f"was {'deleted' if row is None else 'changed'}; the trail still records it as it was")
    return problems


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
    if actor != user and not may(actor, Capability.MANAGE_USERS):
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
    if actor != token.user and not may(actor, Capability.MANAGE_USERS):
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


# --- Signing in ---------------------------------------------------------------------------------------
LOGIN_SUCCEEDED = "auth.login_succeeded"
LOGIN_FAILED = "auth.login_failed"


@transaction.atomic
def login_record_success(*, user, method: str, note: str = "") -> AuditEvent:
    """Record that ``user`` signed in with ``method`` (password or oidc): the same event whatever the door."""
    return audit_record(actor=user, action=LOGIN_SUCCEEDED, obj=user, changes={"method": [None, method]},
                        reason=note)


UNKNOWN_ACCOUNT_FAILURES = "login-failures:unknown-accounts"


def _unknown_account_failure_number() -> int:
    """How many failed sign-ins for no existing account this lockout period has seen, this one included."""
    period = settings.PORTAL_LOGIN_LOCKOUT_SECONDS
    cache.add(UNKNOWN_ACCOUNT_FAILURES, 0, period)
    number = cache.incr(UNKNOWN_ACCOUNT_FAILURES)
    cache.touch(UNKNOWN_ACCOUNT_FAILURES, period)  # as the lockout's counters: the period runs from the last one
    return number


@transaction.atomic
def login_record_failure(*, method: str, reason: str, username: str = "", user=None) -> AuditEvent | None:
    """Record a refused sign-in. A username typed for no existing account is not repeated in the trail (people
    type passwords into the username field), only that no such account exists.

    Failures for existing accounts are bounded by the login lockout (per account). Failures for accounts that
    do not exist are not: each new made-up name has counters of its own. So at most
    ``PORTAL_LOGIN_MAX_UNKNOWN_AUDITED`` of them are written one by one per lockout period, then one event says
    that the rest of the period goes unrecorded (the log still has each one); returns None for those.
    """
    if user is None and username:
        user = get_user_model().objects.filter(username=username).first()
    if user is None:
        number, limit = _unknown_account_failure_number(), settings.PORTAL_LOGIN_MAX_UNKNOWN_AUDITED
        if number > limit + 1:
            logger.warning("failed sign-in for no existing account (%s), not audited: over %s this period",
                           method, limit)
            return None
        if number == limit + 1:
            minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
            reason = (f"{limit} failed sign-ins naming no existing account within {minutes} minutes: further "
                      f"ones are not recorded one by one until {minutes} minutes pass without one (the "
                      "server log has each). Last one: " + reason)
    return audit_record(
        actor=None, action=LOGIN_FAILED, object_type="auth.user",
        object_id=str(user.pk) if user else "", object_repr=user.get_username() if user else "(no such account)",
        changes={"method": [None, method]}, reason=reason[:1000])


def _free_username(wanted: str) -> str:
    """``wanted`` made a valid username nobody has; a taken one gets ``-sso``, then ``-sso2``, ..."""
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "-", wanted).strip("-")[:140] or "sso-user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base}-sso{n if n > 1 else ''}"
        n += 1
    return candidate


@transaction.atomic
def sso_sign_in(*, issuer: str, claims: Mapping[str, Any], roles: frozenset[Role], username_claim: str):
    """The account of the person ``claims`` describe (created at their first sign-in), with exactly ``roles``.

    Roles are re-applied at every sign-in, so a group removed at the provider removes the role here; a change
    is audited. Superusers are left as they are: their powers do not come from the provider.
    """
    User = get_user_model()
    subject = str(claims["sub"])
    identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    profile = {"email": str(claims.get("email") or "")[:254], "first_name": str(claims.get("given_name") or "")[:150],
               "last_name": str(claims.get("family_name") or "")[:150]}
    if identity is None:
        wanted = str(claims.get(username_claim) or claims.get("email") or subject)
        user = User(username=_free_username(wanted), **profile)
        user.set_unusable_password()
        user.save()
        ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        audit_record(actor=None, action="user.created", obj=user, changes={"username": [None, user.username]},
                     reason=f"first single sign-on through {issuer}")
    else:
        user = identity.user
        changed = [field for field, value in profile.items() if value and getattr(user, field) != value]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)
    if not user.is_superuser:
        user_sync_roles(user=user, roles=roles, reason=f"groups at {issuer}")
    return user


@transaction.atomic
def user_sync_roles(*, user, roles: frozenset[Role], reason: str) -> bool:
    """Give ``user`` exactly ``roles`` (and the Django admin with the admin role); audit a change. True if changed."""
    user._portal_roles = None
    before = sorted(role.value for role in user_roles(user))
    after = sorted(role.value for role in roles)
    if before == after and user.is_staff == (Role.ADMIN in roles):
        return False
    role_groups = Group.objects.filter(name__in=[role.value for role in Role])
    user.groups.remove(*[group for group in role_groups if group.name not in after])
    user.groups.add(*[group for group in role_groups if group.name in after])
    user.is_staff = Role.ADMIN in roles
    user.save(update_fields=["is_staff"])
    user._portal_roles = None
    audit_record(actor=None, action="user.roles_synced", obj=user, changes={"roles": [before, after]},
                 reason=reason)
    return True

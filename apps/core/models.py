import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

from apps.core.validators import validate_single_line


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event or a verification result."""


def _refused(model, verb: str) -> AppendOnlyError:
    return AppendOnlyError(f"{capfirst(model._meta.verbose_name_plural)} are append-only; they cannot be {verb}.")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise _refused(self.model, "updated")

    def delete(self):
        raise _refused(self.model, "deleted")

    def bulk_update(self, *args, **kwargs):
        raise _refused(self.model, "updated")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never changed or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise _refused(self, "updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise _refused(self, "deleted")


# Actions the audit machinery records about itself.
AUDIT_CHECKPOINTED = "audit.checkpointed"
AUDIT_VERIFIED = "audit.verified"


class AuditEventQuerySet(AppendOnlyQuerySet):
    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are written one at a time by apps.core.services.audit_record.")

    def for_object(self, obj) -> "AuditEventQuerySet":
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class AuditEvent(AppendOnlyModel):
    """One recorded change: who did what to which object, when and why.

    Append-only and hash-chained (see ``apps.core.audit_chain``). Written only by
    ``apps.core.services.audit_record`` inside the transaction of the change itself.
    ``actor_username`` is kept beside the foreign key so the trail still names
    the person after their account is renamed (accounts that acted are deactivated, never deleted).
    """

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)
    # PROTECT: nulling the actor would rewrite (and break) the chain; people who acted are deactivated, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True, validators=[validate_single_line])
    action = models.CharField(
        max_length=100, db_index=True, help_text="Dotted verb, e.g. model.created", validators=[validate_single_line])
    object_type = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="app_label.model", validators=[validate_single_line])
    object_id = models.CharField(max_length=64, blank=True, db_index=True, validators=[validate_single_line])
    object_repr = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [before, after]}")
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True, validators=[validate_single_line])
    prev_hash = models.CharField(max_length=64, editable=False, validators=[validate_single_line])
    hash = models.CharField(max_length=64, unique=True, editable=False, validators=[validate_single_line])

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "-seq"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor_username or 'system'}"

    def hashed_fields(self) -> dict:
        return {
            "id": self.pk,
            "seq": self.seq,
            "created_at": self.created_at,
            "actor_id": self.actor_id,
            "actor_username": self.actor_username,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "changes": self.changes,
            "reason": self.reason,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class AuditVerification(AppendOnlyModel):
    """The result of one run of the audit chain check (``verify_audit`` or the nightly task).

    Append-only, and each row is also recorded as an ``audit.verified`` event in the same transaction: a
    failed result deleted behind the ORM's back is still named by the trail, and the next check reports it.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    checked = models.PositiveBigIntegerField()
    first_bad_seq = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.TextField()
    triggered_by = models.CharField(max_length=50, help_text="command, task or page", validators=[validate_single_line])

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-finished_at"]
        get_latest_by = "finished_at"

    def __str__(self) -> str:
        return self.message


def new_api_key() -> str:
    """A fresh API key: 256 random bits, URL-safe, so nobody can guess one; never starting with "-", which a
    command line (``--token KEY``) would take for an option (one key in 64 did)."""
    while (key := secrets.token_urlsafe(32)).startswith("-"):
        continue
    return key


def hash_api_key(key: str) -> str:
    """What is stored of a key. One round of SHA-256 suffices: unlike a password, a random 256-bit key
    offers nothing to try by brute force, and authentication must stay one indexed lookup."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A key a script sends as ``Authorization: Token <key>`` to act as ``user``.

    Only the SHA-256 of the key is stored: the key is shown once, when it is created (account page,
    ``create_api_token``), and neither an admin nor a copy of the database can recover it. ``prefix``
    (the key's first characters) lets people tell their tokens apart. A token works until
    ``expires_at`` or until it is revoked; revoked tokens stay, so the audit trail can name them.
    Written only by ``apps.core.services``.
    """

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, validators=[validate_single_line],
                            help_text="What the token is for, e.g. 'CI uploads'.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False, validators=[validate_single_line])
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, validators=[validate_single_line])
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        label = f" ({self.name})" if self.name else ""
        return f"API token {self.prefix}…{label} of {self.user.get_username()}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ExternalIdentity(TimeStampedModel):
    """A portal account's person at an OpenID Connect provider: the issuer and its subject (``sub``).

    Single sign-on finds the account by this pair, never by email address or username, which a provider may
    reassign and which a local account may already carry: signing in through the provider never takes over
    an account it did not create. Written only by ``apps.core.services``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=255, validators=[validate_single_line])
    subject = models.CharField(max_length=255, validators=[validate_single_line])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_unique")]
        verbose_name_plural = "external identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"

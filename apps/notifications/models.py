from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from apps.core import sealing
from apps.core.validators import validate_single_line


class Notification(models.Model):
    """An in-app message to one person, also an outbox row for its email.

    Written in the same transaction as the event it reports. A repeat of the same kind about the same page
    while this row is unread and recent is digested into it (``occurrences``, ``last_at``) instead of a
    new row and a new email. The
    ``notifications.deliver_emails`` task sends the email afterwards and claims
    each row with a conditional update, so two workers never send it twice.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(max_length=200, validators=[validate_single_line])
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, validators=[validate_single_line])
    action = models.CharField(max_length=100, blank=True, validators=[validate_single_line],
                              help_text="What the recipient should do, as the link's words.")
    kind = models.CharField(max_length=40, blank=True, validators=[validate_single_line],
                            help_text="What happened, e.g. alert or review_decided; with the url it groups repeats.")
    occurrences = models.PositiveIntegerField(default=1, help_text="Repeats digested into this row.")
    last_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="When it last happened.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.subject


class WebhookSubscription(models.Model):
    """An outside URL that receives chosen portal events as signed JSON (see ``apps/notifications/webhooks.py``).

    The secret signs every delivery; it is shown once, when the subscription is created, and never again.
    It is stored sealed (``apps.core.sealing``): ``signing_secret()`` opens it where a delivery is signed.
    """

    name = models.CharField(max_length=100, validators=[validate_single_line])
    url = models.URLField(max_length=500, validators=[validate_single_line])
    events = models.JSONField(default=list, help_text="Names of the events this URL receives.")
    secret = models.CharField(max_length=300, editable=False, validators=[validate_single_line])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("notifications:webhook-detail", args=[self.pk])

    def signing_secret(self) -> str:
        return sealing.unseal(self.secret)


class WebhookDelivery(models.Model):
    """One event for one subscription: an outbox row written in the event's transaction, sent by a task.

    ``log`` keeps every attempt (when, response code, duration, error); a failed attempt waits
    ``backoff_seconds`` before the next, up to ``PORTAL_WEBHOOK_MAX_ATTEMPTS``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50, validators=[validate_single_line])
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription}"

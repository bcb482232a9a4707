from django.conf import settings
from django.db import models

from apps.core.validators import validate_single_line


class Notification(models.Model):
    """An in-app message to one person, also an outbox row for its email.

    Written in the same transaction as the event it reports; the
    ``notifications.deliver_emails`` task sends the email afterwards and claims
    each row with a conditional update, so two workers never send it twice.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(max_length=200, validators=[validate_single_line])
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, validators=[validate_single_line])
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.subject

from django.conf import settings
from django.db import models
from django.utils import timezone

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

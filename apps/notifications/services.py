from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.core.validators import single_line
from apps.notifications.models import Notification

# Repeats of one kind about one page within this time, while unread, become one row with a count.
DIGEST_WINDOW = timedelta(hours=24)


@transaction.atomic
def notify(*, recipient, subject: str, body: str = "", url: str = "", kind: str = "",
           action: str = "") -> Notification | None:
    """Queue an in-app notification and its email; the email leaves after the transaction commits.

    ``action`` says what to do (the link's words). With a ``kind`` and a ``url``, a repeat while the earlier
    row is unread and within ``DIGEST_WINDOW`` of its last occurrence is digested into it: the row counts it
    and shows the newest subject and body, and no further email is sent (the first one already called).
    """
    if recipient is None or not recipient.is_active:
        return None
    subject = single_line(subject)[:200]
    now = timezone.now()
    if kind and url:
        earlier = (Notification.objects.select_for_update()
                   .filter(recipient=recipient, kind=kind, url=url, read_at__isnull=True,
                           last_at__gte=now - DIGEST_WINDOW).order_by("-last_at", "-pk").first())
        if earlier is not None:
            earlier.subject, earlier.body, earlier.action, earlier.last_at = subject, body, action, now
            earlier.occurrences += 1
            earlier.save(update_fields=["subject", "body", "action", "last_at", "occurrences"])
            return earlier
    notification = Notification.objects.create(recipient=recipient, subject=subject, body=body, url=url, kind=kind,
                                               action=action, last_at=now)
    _deliver_after_commit()
    return notification


def _deliver():
    from apps.notifications.tasks import deliver_emails

    deliver_emails.delay()


def _deliver_after_commit() -> None:
    """One delivery task per transaction, however many notifications it writes (the task sends every pending
    email): a governance change that notifies five owners queues one message, not five."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(func is _deliver for _sids, func, _robust in connection.run_on_commit):
        return
    transaction.on_commit(_deliver)


def notification_mark_read(*, user, notification_id: int | None = None) -> int:
    queryset = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        queryset = queryset.filter(pk=notification_id)
    return queryset.update(read_at=timezone.now())


def deliver_pending_emails(*, limit: int = 200) -> int:
    """Send each pending email once: claim the row, send, record the outcome."""
    sent = 0
    pending = Notification.objects.filter(email_claimed_at__isnull=True).select_related("recipient")[:limit]
    for notification in pending:
        claimed = Notification.objects.filter(pk=notification.pk, email_claimed_at__isnull=True).update(
            email_claimed_at=timezone.now()
        )
        if not claimed:
            continue  # another worker took it
        address = notification.recipient.email
        if not address:
            Notification.objects.filter(pk=notification.pk).update(email_error="recipient has no email address")
            continue
        try:
            # Rows queued before subjects were cleaned may still hold a line break, which send_mail refuses.
            send_mail(single_line(notification.subject), _email_body(notification), settings.DEFAULT_FROM_EMAIL,
                      [address])
        except Exception as exc:  # noqa: BLE001 - keep the row, record why, let an admin retry
            Notification.objects.filter(pk=notification.pk).update(email_error=str(exc)[:1000])
            continue
        Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
        sent += 1
    return sent


def _email_body(notification: Notification) -> str:
    base = settings.PORTAL_BASE_URL.rstrip("/")
    link = (f"\n\n{notification.action or 'Open in the portal'}: {base}{notification.url}" if notification.url
            else "")
    return f"{notification.body}{link}\n\n-- MLOps Portal"

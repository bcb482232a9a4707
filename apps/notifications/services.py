import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.core import sealing
from apps.core.errors import DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record
from apps.core.validators import single_line
from apps.notifications import webhooks
from apps.notifications.models import Notification, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

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


def notifications_settled(*, kind: str, url: str) -> int:
    """Someone did what unread ``kind`` notifications about ``url`` asked (decided the proposal they announce):
    they are marked read for everyone, so no one's inbox keeps asking for work that is done."""
    return Notification.objects.filter(kind=kind, url=url, read_at__isnull=True).update(read_at=timezone.now())


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


# --- Outgoing webhooks ------------------------------------------------------------------------------------
# Deliveries are outbox rows written in the transaction of the audited event that raises them; a task posts
# each one after the commit, outside any transaction, and records every attempt.

def _check_target(url: str) -> None:
    try:
        webhooks.check_target(url, allow_private=settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE)
    except webhooks.TargetRefused as exc:
        raise DomainError(str(exc), field="url") from None


@transaction.atomic
def webhook_create(*, actor, name: str, url: str, events: list[str]) -> WebhookSubscription:
    """A new subscription with a fresh secret. The caller shows ``secret`` once; nothing shows it again."""
    require(actor, Capability.MANAGE_WEBHOOKS)
    chosen = sorted(set(events))
    unknown = [event for event in chosen if event not in webhooks.EVENT_NAMES]
    if unknown or not chosen:
        raise DomainError(f"Choose at least one of the events {', '.join(sorted(webhooks.EVENT_NAMES))}"
                          + (f"; {', '.join(unknown)} is not one." if unknown else "."), field="events")
    name = single_line(name).strip()
    if not name:
        raise DomainError("Give the webhook a name.", field="name")
    url = url.strip()
    _check_target(url)
    secret = webhooks.new_secret()
    subscription = WebhookSubscription.objects.create(name=name[:100], url=url, events=chosen,
                                                      secret=sealing.seal(secret), created_by=actor)
    subscription.plain_secret = secret  # for the one answer that shows it; never stored in the clear
    audit_record(actor=actor, action="webhook.created", obj=subscription,
                 changes={"url": [None, url], "events": [None, chosen]})
    return subscription


@transaction.atomic
def webhook_delete(*, actor, subscription: WebhookSubscription) -> None:
    """Remove the subscription and its delivery log; pending deliveries are never sent."""
    require(actor, Capability.MANAGE_WEBHOOKS)
    audit_record(actor=actor, action="webhook.deleted", obj=subscription,
                 changes={"url": [subscription.url, None], "events": [subscription.events, None]})
    subscription.delete()


@transaction.atomic
def webhook_ping(*, actor, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a ``ping`` delivery, so an admin sees the receiver answer (or not) in the delivery log."""
    require(actor, Capability.MANAGE_WEBHOOKS)
    payload = {"event": webhooks.PING, "occurred_at": timezone.now().isoformat(),
               "text": webhooks.slack_text(event=webhooks.PING, subject=f"test delivery to {subscription.name}",
                                           summary=f"sent by {actor.get_username()}", url=""),
               "data": {"subscription": subscription.name, "events": subscription.events}}
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=webhooks.PING, payload=payload,
                                              next_attempt_at=timezone.now())
    audit_record(actor=actor, action="webhook.pinged", obj=subscription, changes={"delivery": [None, delivery.pk]})
    transaction.on_commit(lambda: _send_later(delivery.pk))
    return delivery


def webhooks_enqueue(*, event, obj=None) -> list[WebhookDelivery]:
    """Queue the audit ``event`` for every subscription to its webhook event, in the event's transaction.

    Costs nothing for actions no webhook event names, one query for the others.
    """
    name = webhooks.event_for_action(event.action)
    if name is None:
        return []
    subscriptions = [s for s in WebhookSubscription.objects.only("pk", "events")
                     if name in s.events]
    if not subscriptions:
        return []
    payload = _event_payload(name, event, obj)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscription=s, event=name, payload=payload, next_attempt_at=now) for s in subscriptions])
    for delivery in deliveries:
        transaction.on_commit(partial(_send_later, delivery.pk))
    return deliveries


def _event_payload(name: str, event, obj) -> dict:
    path = obj.get_absolute_url() if obj is not None and hasattr(obj, "get_absolute_url") else ""
    url = f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}" if path else ""
    return {
        "event": name,
        "occurred_at": event.created_at.isoformat(),
        "text": webhooks.slack_text(event=name, subject=event.object_repr or event.object_type,
                                    summary=webhooks.summarise_changes(event.changes), url=url),
        "data": {
            "action": event.action,
            "audit_event": event.seq,
            "actor": event.actor_username or None,
            "object": {"type": event.object_type, "id": event.object_id, "name": event.object_repr, "url": url},
            "changes": event.changes,
            "reason": event.reason,
        },
    }


def _send_later(delivery_id: int, countdown: int = 0) -> None:
    from apps.notifications.tasks import deliver_webhook

    try:
        deliver_webhook.apply_async(args=[delivery_id], countdown=countdown)
    except Exception:  # noqa: BLE001 - the broker is down: the row stays pending and the beat sweep sends it
        logger.warning("could not queue webhook delivery %s; the sweep will send it", delivery_id, exc_info=True)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an order: following it could lead the portal to an internal address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the signed payload; (HTTP status or None, error). Never inside a transaction."""
    subscription = delivery.subscription
    try:
        # Again at send time: the name may resolve elsewhere now than when the admin saved it.
        webhooks.check_target(subscription.url, allow_private=settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE)
    except webhooks.TargetRefused as exc:
        return None, str(exc)
    body = webhooks.encode(delivery.payload)
    request = urllib.request.Request(subscription.url, data=body, method="POST", headers={  # noqa: S310 - checked
        "Content-Type": "application/json",
        "User-Agent": "MLOps-Portal-Webhooks/1",
        webhooks.EVENT_HEADER: delivery.event,
        webhooks.DELIVERY_HEADER: str(delivery.pk),
        webhooks.SIGNATURE_HEADER: webhooks.signature_header(subscription.signing_secret(), int(time.time()), body),
    })
    try:
        with _opener.open(request, timeout=settings.PORTAL_WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:1000]


def webhook_deliver(*, delivery_id: int) -> str | None:
    """Send one due delivery once: claim it, post it, record the attempt; schedule a retry with back-off.

    Returns the new status, or None when the row was not due or another worker holds it.
    """
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING,
                                             next_attempt_at__lte=now).update(
        status=WebhookDelivery.Status.SENDING, claimed_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    started = time.monotonic()
    code, error = _post(delivery)
    duration_ms = round((time.monotonic() - started) * 1000)
    return _record_attempt(delivery, code=code, error=error, duration_ms=duration_ms)


def _record_attempt(delivery: WebhookDelivery, *, code: int | None, error: str, duration_ms: int) -> str:
    now = timezone.now()
    attempts = delivery.attempts + 1
    ok = code is not None and 200 <= code < 300
    entry = {"at": now.isoformat(), "response_code": code, "duration_ms": duration_ms, "error": error[:300]}
    fields = {"attempts": attempts, "response_code": code, "duration_ms": duration_ms, "error": error,
              "log": [*delivery.log, entry][-20:], "claimed_at": None}
    retry_in = 0
    if ok:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, error="")
    elif attempts >= settings.PORTAL_WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=WebhookDelivery.Status.FAILED)
    else:
        retry_in = webhooks.backoff_seconds(attempts, base=settings.PORTAL_WEBHOOK_BACKOFF_SECONDS)
        fields.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now + timedelta(seconds=retry_in))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if retry_in:
        _send_later(delivery.pk, countdown=retry_in)
    return fields["status"]


def webhook_deliver_due(*, limit: int = 100) -> int:
    """The sweep: hand back deliveries whose worker died mid-send, then send what is due (lost retries)."""
    stuck_before = timezone.now() - timedelta(seconds=settings.PORTAL_WEBHOOK_TIMEOUT_SECONDS * 3 + 60)
    WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SENDING, claimed_at__lt=stuck_before).update(
        status=WebhookDelivery.Status.PENDING, claimed_at=None)
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                         next_attempt_at__lte=timezone.now()).order_by("next_attempt_at")
    return sum(1 for pk in list(due.values_list("pk", flat=True)[:limit]) if webhook_deliver(delivery_id=pk))

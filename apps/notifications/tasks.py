from celery import shared_task

from apps.notifications import services


@shared_task(name="notifications.deliver_emails")
def deliver_emails() -> int:
    return services.deliver_pending_emails()


@shared_task(name="notifications.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str | None:
    return services.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="notifications.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    return services.webhook_deliver_due()

from celery import shared_task

from apps.notifications import services


@shared_task(name="notifications.deliver_emails")
def deliver_emails() -> int:
    return services.deliver_pending_emails()

from django.apps import AppConfig

from apps.core.signals import audit_recorded


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications (in-app and email outbox, webhooks)"

    def ready(self) -> None:
        from apps.notifications import receivers

        audit_recorded.connect(receivers.audit_recorded, dispatch_uid="notifications.webhooks", weak=False)

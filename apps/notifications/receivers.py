"""How the notifications app hears of audited events (core sends ``audit_recorded``; it imports no app above)."""

from apps.notifications.services import webhooks_enqueue


def audit_recorded(sender, *, event, obj=None, **kwargs) -> None:
    webhooks_enqueue(event=event, obj=obj)

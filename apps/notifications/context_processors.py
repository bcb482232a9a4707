"""The unread count in the page header; here rather than in core, which may not import the apps above it."""

from apps.core.roles import user_roles
from apps.notifications.models import Notification


def unread(request):
    user = getattr(request, "user", None)
    has_role = user is not None and bool(user_roles(user))
    return {"portal_unread": unread_count(user) if has_role else 0}


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()

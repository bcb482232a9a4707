"""Reads of the notifications app."""

from django.db.models import Count, Q

from apps.notifications.models import WebhookDelivery, WebhookSubscription


def webhook_subscriptions():
    """Subscriptions with their count of deliveries that gave up, for the list page and the API."""
    failed = Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED))
    # An aggregate drops Meta.ordering, and pagination needs one.
    return WebhookSubscription.objects.select_related("created_by").annotate(failed_count=failed).order_by("name", "pk")


def webhook_deliveries(*, subscription: WebhookSubscription | None = None):
    queryset = WebhookDelivery.objects.select_related("subscription")
    if subscription is not None:
        queryset = queryset.filter(subscription=subscription)
    return queryset

import django_filters
from django.db.models import Q

from apps.core.filters import IdFilter
from apps.notifications import webhooks
from apps.notifications.models import WebhookDelivery, WebhookSubscription


class WebhookFilter(django_filters.FilterSet):
    """Serves the webhook page and ``/api/v1/webhooks/``."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="name or URL")
    event = django_filters.ChoiceFilter(choices=webhooks.EVENT_CHOICES, method="subscribed_to")

    class Meta:
        model = WebhookSubscription
        fields = ["q", "event"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(url__icontains=value))

    def subscribed_to(self, queryset, name, value):
        # Names are quoted in the stored JSON list, so ``"gate.refused"`` never matches a longer name.
        return queryset.filter(events__icontains=f'"{value}"')


class WebhookDeliveryLogFilter(django_filters.FilterSet):
    """One webhook's delivery log (its page)."""

    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event = django_filters.CharFilter(help_text="e.g. gate.refused or ping")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event"]


class WebhookDeliveryFilter(WebhookDeliveryLogFilter):
    """Every webhook's deliveries (``/api/v1/webhook-deliveries/``)."""

    webhook = IdFilter(field_name="subscription_id", label="Webhook (id)")

    class Meta:
        model = WebhookDelivery
        fields = ["webhook", "status", "event"]

import factory
from django.utils import timezone

from apps.core import sealing
from apps.notifications import webhooks
from apps.notifications.models import WebhookDelivery, WebhookSubscription


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    name = factory.Sequence(lambda n: f"hook {n}")
    url = factory.Sequence(lambda n: f"https://hooks.example.org/{n}")
    events = factory.LazyFunction(lambda: sorted(webhooks.EVENT_NAMES))
    secret = factory.LazyFunction(lambda: sealing.seal(webhooks.new_secret()))  # stored as the service stores it


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = "governance.changed"
    payload = factory.LazyFunction(lambda: {"event": "governance.changed", "text": "changed", "data": {}})
    next_attempt_at = factory.LazyFunction(timezone.now)

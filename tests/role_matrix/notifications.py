from tests.notifications.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from tests.role_matrix import EVERYONE

ADMINS = frozenset({"admin"})


def webhook_kwargs():
    return {"pk": WebhookSubscriptionFactory().pk}


MATRIX = {
    "notifications:list": ("get", EVERYONE, None),
    "notifications:mark-read": ("post", EVERYONE, None),
    "notifications:webhooks": ("get", ADMINS, None),
    "notifications:webhook-create": ("get", ADMINS, None),
    "notifications:webhook-detail": ("get", ADMINS, webhook_kwargs),
    "notifications:webhook-ping": ("post", ADMINS, webhook_kwargs),
    "notifications:webhook-delete": ("post", ADMINS, webhook_kwargs),
}

# The create form's POST without fields: 400 for admins, past the access check.
WRITES = {"notifications:webhook-create": {"post": ADMINS}}

ANY_TEAM = {"notifications:mark-read": "a person's own notifications"}


def delivery_kwargs():
    return {"pk": WebhookDeliveryFactory().pk}


MATRIX |= {
    "webhook-list": ("get", ADMINS, None),
    "webhook-detail": ("get", ADMINS, webhook_kwargs),
    "webhook-ping": ("post", ADMINS, webhook_kwargs),
    "webhook-delivery-list": ("get", ADMINS, None),
    "webhook-delivery-detail": ("get", ADMINS, delivery_kwargs),
}
WRITES |= {"webhook-list": {"post": ADMINS}, "webhook-detail": {"delete": ADMINS}}

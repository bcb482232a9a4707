"""A real worker posts a webhook from the outbox to a real receiver, retrying a failure after its back-off."""

import json

import pytest

from apps.core.services import audit_record
from apps.notifications.models import WebhookDelivery
from apps.notifications.services import webhook_create
from tests.celery_helpers import wait_for, worker
from tests.factories import UserFactory
from tests.notifications.receiver import http_receiver
from tests.notifications.test_webhooks import readme_verifier

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_delivers_and_retries_a_signed_event(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    admin = UserFactory(roles=["admin"])
    env = {"PORTAL_WEBHOOKS_ALLOW_PRIVATE": "true", "PORTAL_WEBHOOK_BACKOFF_SECONDS": "1"}
    with http_receiver() as receiver, worker(log_name="webhooks", env=env) as (proc, log):
        receiver.answers = [503]
        hook = webhook_create(actor=admin, name="ops", url=receiver.url, events=["alert.breach"])
        audit_record(actor=None, action="alert.raised_breach", object_type="monitoring.alert", object_id="3",
                     object_repr="accuracy below 0.8", changes={"severity": [None, "breach"]})
        delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").first(), timeout=90,
                            what="the worker to deliver the webhook after one retry", log_path=log)
        assert proc.poll() is None, "worker died"
    assert [entry["response_code"] for entry in delivery.log] == [503, 200]
    first, second = receiver.requests
    assert first.body == second.body and json.loads(second.body)["event"] == "alert.breach"
    assert readme_verifier()(hook.plain_secret, second.headers["x-portal-signature"], second.body)

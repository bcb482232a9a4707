"""Outgoing webhooks against a real HTTP receiver on loopback."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.services import audit_record
from apps.inventory import services as inventory
from apps.notifications import webhooks
from apps.notifications.models import WebhookDelivery, WebhookSubscription
from apps.notifications.services import webhook_create, webhook_deliver, webhook_deliver_due, webhook_ping
from tests.notifications.factories import WebhookSubscriptionFactory
from tests.notifications.receiver import http_receiver
from tests.reviews.helpers import assessed_version

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier():
    """The verification snippet of the README, executed as printed."""
    text = README.read_text()
    section = text[text.index("### Webhooks"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented snippet itself
    return namespace["verify_portal_signature"]


@pytest.fixture
def allow_loopback(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def admin(make_user):
    return make_user("admin", username="ada")


def test_a_signed_event_reaches_the_receiver_and_the_readme_snippet_verifies_it(
        admin, allow_loopback, django_capture_on_commit_callbacks):
    with http_receiver() as receiver:
        hook = webhook_create(actor=admin, name="ops", url=receiver.url, events=["governance.changed"])
        with django_capture_on_commit_callbacks(execute=True):
            audit_record(actor=admin, action="governance.changed", object_type="inventory.mlmodel", object_id="7",
                         object_repr="churn", changes={"status": ["compliant", "non_compliant"]})
    [request] = receiver.requests
    verify = readme_verifier()
    assert verify(hook.plain_secret, request.headers["x-portal-signature"], request.body)
    assert not verify("whsec_wrong", request.headers["x-portal-signature"], request.body)
    assert not verify(hook.plain_secret, request.headers["x-portal-signature"], request.body + b" ")
    payload = json.loads(request.body)
    assert payload["event"] == request.headers["x-portal-event"] == "governance.changed"
    assert payload["text"].startswith("[MLOps Portal] governance.changed: churn (status compliant -> non_compliant)")
    assert payload["data"]["object"] == {"type": "inventory.mlmodel", "id": "7", "name": "churn", "url": ""}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("delivered", 200, 1)
    assert delivery.duration_ms is not None and delivery.log[0]["response_code"] == 200


def test_an_old_signature_is_refused_by_the_snippet():
    verify = readme_verifier()
    body, old = b'{"text":"x"}', int(timezone.now().timestamp()) - 3600
    assert not verify("s", webhooks.signature_header("s", old, body), body)
    assert verify("s", webhooks.signature_header("s", old, body), body, tolerance=7200)


def test_a_refused_production_gate_is_sent_with_a_link_to_the_version(
        admin, make_user, allow_loopback, django_capture_on_commit_callbacks, settings):
    scientist = make_user("data_scientist")
    version = assessed_version(team__members=[scientist])
    with http_receiver() as receiver:
        webhook_create(actor=admin, name="gate", url=receiver.url, events=["gate.refused"])
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ConflictError):
            inventory.version_transition(actor=scientist, version=version, to_stage="production")
    [request] = receiver.requests
    data = json.loads(request.body)["data"]
    assert data["action"] == "production_gate.refused" and data["actor"] == scientist.username
    assert data["object"]["url"] == settings.PORTAL_BASE_URL + version.get_absolute_url()
    assert any("approval" in problem for problem in data["changes"]["problems"][1])
    version.refresh_from_db()
    assert version.stage == "development"  # the refusal is recorded, the transition is not


def test_only_subscribed_events_are_queued(admin, allow_loopback):
    webhook_create(actor=admin, name="breaches", url="http://127.0.0.1:9/x", events=["alert.breach"])
    audit_record(actor=None, action="governance.changed", object_type="x.y", object_id="1")
    audit_record(actor=None, action="model.updated", object_type="x.y", object_id="1")
    assert not WebhookDelivery.objects.exists()
    audit_record(actor=None, action="alert.escalated", object_type="monitoring.alert", object_id="1")
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["alert.breach"]


def test_a_failed_attempt_is_retried_with_back_off_and_logged(admin, allow_loopback, settings):
    settings.PORTAL_WEBHOOK_BACKOFF_SECONDS = 30
    with http_receiver() as receiver:
        receiver.answers = [503, 500]
        hook = WebhookSubscriptionFactory(url=receiver.url)
        delivery = webhook_ping(actor=admin, subscription=hook)
        assert webhook_deliver(delivery_id=delivery.pk) == "pending"
        delivery.refresh_from_db()
        assert delivery.response_code == 503
        assert timedelta(seconds=29) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
        assert webhook_deliver(delivery_id=delivery.pk) is None  # not due yet: nothing sent
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert webhook_deliver(delivery_id=delivery.pk) == "pending"
        delivery.refresh_from_db()
        assert timedelta(seconds=59) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=60)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert webhook_deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [entry["response_code"] for entry in delivery.log] == [503, 500, 200]
    assert len(receiver.requests) == 3
    assert {r.headers["x-portal-delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_it_gives_up_after_the_last_attempt(admin, allow_loopback, settings):
    settings.PORTAL_WEBHOOK_MAX_ATTEMPTS = 2
    with http_receiver() as receiver:
        receiver.answers = [500, 500, 500]
        delivery = webhook_ping(actor=admin, subscription=WebhookSubscriptionFactory(url=receiver.url))
        webhook_deliver(delivery_id=delivery.pk)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert webhook_deliver(delivery_id=delivery.pk) == "failed"
        assert webhook_deliver_due() == 0
    assert len(receiver.requests) == 2


def test_an_unreachable_receiver_is_logged_with_the_reason(admin, allow_loopback):
    with http_receiver() as receiver:
        url = receiver.url
    delivery = webhook_ping(actor=admin, subscription=WebhookSubscriptionFactory(url=url))
    assert webhook_deliver(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.response_code is None and "refused" in delivery.error.lower()


def test_a_stuck_delivery_is_handed_back_by_the_sweep(admin, allow_loopback):
    with http_receiver() as receiver:
        delivery = webhook_ping(actor=admin, subscription=WebhookSubscriptionFactory(url=receiver.url))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status="sending", claimed_at=timezone.now() - timedelta(hours=1))
        assert webhook_deliver_due() == 1
    assert WebhookDelivery.objects.get().status == "delivered"


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)",
                                 "http://user:pw@example.org/", "http:///nohost"])
def test_it_refuses_urls_that_are_not_http(admin, url):
    with pytest.raises(DomainError) as refused:
        webhook_create(actor=admin, name="x", url=url, events=["gate.refused"])
    assert refused.value.field == "url"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://localhost/", "http://10.1.2.3/",
                                 "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/", "http://0.0.0.0/"])
def test_it_refuses_internal_addresses_unless_allowed(admin, url, settings):
    with pytest.raises(DomainError, match="internal address"):
        webhook_create(actor=admin, name="x", url=url, events=["gate.refused"])
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    assert webhook_create(actor=admin, name="x", url=url, events=["gate.refused"]).pk


def test_an_address_that_became_internal_is_not_posted_to(admin):
    delivery = webhook_ping(actor=admin, subscription=WebhookSubscriptionFactory(url="http://127.0.0.1:9/x"))
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.response_code is None and "internal address" in delivery.error


def test_redirects_are_not_followed(admin, allow_loopback):
    with http_receiver() as receiver, http_receiver() as elsewhere:
        receiver.answers = [302]
        delivery = webhook_ping(actor=admin, subscription=WebhookSubscriptionFactory(url=receiver.url))
        webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.response_code == 302 and delivery.status == "pending" and not elsewhere.requests


def test_events_must_be_known_and_chosen(admin):
    with pytest.raises(DomainError, match="Choose at least one"):
        webhook_create(actor=admin, name="x", url="https://example.org/", events=[])
    with pytest.raises(DomainError, match="nope is not one"):
        webhook_create(actor=admin, name="x", url="https://example.org/", events=["nope"])


@pytest.mark.parametrize("role", ["executive", "reviewer", "data_scientist"])
def test_only_admins_manage_webhooks(make_user, role):
    with pytest.raises(PermissionDeniedError):
        webhook_create(actor=make_user(role), name="x", url="https://example.org/", events=["gate.refused"])


def test_the_secret_is_new_for_each_subscription(admin, allow_loopback):
    first = webhook_create(actor=admin, name="a", url="http://127.0.0.1/a", events=["gate.refused"])
    second = webhook_create(actor=admin, name="b", url="http://127.0.0.1/b", events=["gate.refused"])
    assert first.plain_secret.startswith("whsec_") and len(first.plain_secret) > 40
    assert first.plain_secret != second.plain_secret
    # Stored sealed: the row holds neither secret, and opens to the one shown.
    stored = WebhookSubscription.objects.get(pk=first.pk)
    assert first.plain_secret not in stored.secret and stored.secret.startswith("sealed:v1:")
    assert stored.signing_secret() == first.plain_secret

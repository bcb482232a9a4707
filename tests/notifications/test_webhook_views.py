"""The admins' webhook pages: list, create (secret shown once), delivery log, ping, delete."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.notifications.models import WebhookDelivery, WebhookSubscription
from tests.notifications.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from tests.notifications.receiver import http_receiver


@pytest.fixture
def admin_client(client_as):
    return client_as("admin")


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_costs_a_constant_number_of_queries(admin_client, django_assert_num_queries, count):
    for hook in WebhookSubscriptionFactory.create_batch(count):
        WebhookDeliveryFactory(subscription=hook, status="failed")
    # session, user, roles, unread count, page count, page rows
    with django_assert_num_queries(6):
        page = admin_client.get(reverse("notifications:webhooks"))
    assert page.status_code == 200 and page.content.decode().count("/notifications/webhooks/") >= count


def test_the_list_searches_and_filters_by_event(admin_client):
    WebhookSubscriptionFactory(name="slack ops", events=["gate.refused"])
    WebhookSubscriptionFactory(name="jira", events=["gate.overridden"])
    page = admin_client.get(reverse("notifications:webhooks"), {"event": "gate.refused"}).content.decode()
    assert "slack ops" in page and "jira" not in page
    page = admin_client.get(reverse("notifications:webhooks"), {"q": "jir"}).content.decode()
    assert "jira" in page and "slack ops" not in page
    page = admin_client.get(reverse("notifications:webhooks"), {"q": "nothing"}).content.decode()
    assert "No webhooks match these filters" in page


def test_the_empty_list_says_how_to_start(admin_client):
    assert "No webhooks yet" in admin_client.get(reverse("notifications:webhooks")).content.decode()


def test_htmx_gets_the_results_alone(admin_client):
    WebhookSubscriptionFactory(name="slack ops")
    page = admin_client.get(reverse("notifications:webhooks"), HTTP_HX_REQUEST="true").content.decode()
    assert "slack ops" in page and "<html" not in page


def test_the_secret_is_shown_once_at_creation(admin_client, settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    answer = admin_client.post(reverse("notifications:webhook-create"), {
        "name": "ops", "url": "http://127.0.0.1:9/hook", "events": ["gate.refused", "alert.breach"]})
    assert answer.status_code == 201
    hook = WebhookSubscription.objects.get()
    secret = hook.signing_secret()
    assert secret.startswith("whsec_") and secret not in hook.secret
    assert secret in answer.content.decode() and hook.events == ["alert.breach", "gate.refused"]
    assert secret not in admin_client.get(hook.get_absolute_url()).content.decode()
    assert secret not in admin_client.get(reverse("notifications:webhooks")).content.decode()
    event = AuditEvent.objects.get(action="webhook.created")
    assert secret not in str(event.changes)


def test_an_internal_url_is_refused_on_its_field(admin_client):
    answer = admin_client.post(reverse("notifications:webhook-create"), {
        "name": "ops", "url": "http://169.254.169.254/", "events": ["gate.refused"]})
    assert answer.status_code == 400
    assert "internal address" in answer.content.decode() and not WebhookSubscription.objects.exists()


def test_the_delivery_log_shows_codes_and_durations(admin_client, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    with http_receiver() as receiver, django_capture_on_commit_callbacks(execute=True):
        receiver.answers = [500]
        hook = WebhookSubscriptionFactory(url=receiver.url)
        admin_client.post(reverse("notifications:webhook-ping", args=[hook.pk]))
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "ping" and delivery.response_code == 500
    page = admin_client.get(hook.get_absolute_url()).content.decode()
    assert f"500, {delivery.duration_ms} ms" in page and "Pending" in page
    assert "No deliveries match" in admin_client.get(hook.get_absolute_url(), {"status": "delivered"}).content.decode()


def test_deleting_removes_the_webhook_and_is_audited(admin_client):
    hook = WebhookSubscriptionFactory()
    answer = admin_client.post(reverse("notifications:webhook-delete", args=[hook.pk]))
    assert answer.status_code == 302 and not WebhookSubscription.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted", object_id=str(hook.pk)).exists()


def test_an_unknown_webhook_is_a_404(admin_client):
    assert admin_client.get(reverse("notifications:webhook-detail", args=[999])).status_code == 404


def test_the_menu_offers_webhooks_to_admins_only(client_as):
    assert reverse("notifications:webhooks") in client_as("admin").get(reverse("core:home")).content.decode()
    assert reverse("notifications:webhooks") not in client_as("reviewer").get(reverse("core:home")).content.decode()

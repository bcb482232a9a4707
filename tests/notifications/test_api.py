"""The webhooks API: admins only, the secret in the creation's answer only."""

import pytest

from apps.notifications.models import WebhookDelivery
from tests.factories import UserFactory, api_key_for
from tests.notifications.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from tests.notifications.receiver import http_receiver


def api(client, role="admin"):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_key_for(UserFactory(roles=[role]))}"
    return client


@pytest.fixture
def admin_api(client, db):
    return api(client)


def test_creating_answers_the_secret_once(admin_api, settings):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    created = admin_api.post("/api/v1/webhooks/", {"name": "ops", "url": "http://127.0.0.1:9/h",
                                                   "events": ["alert.breach"]}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["alert.breach"]
    again = admin_api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in again and again["url"] == "http://127.0.0.1:9/h"
    assert body["secret"] not in admin_api.get("/api/v1/webhooks/").content.decode()


@pytest.mark.parametrize(("url", "message"), [("http://10.0.0.8/", "internal address"),
                                              ("gopher://example.org/", "http:// or https://")])
def test_a_refused_url_is_a_400_naming_the_field(admin_api, url, message):
    answer = admin_api.post("/api/v1/webhooks/", {"name": "x", "url": url, "events": ["gate.refused"]},
                            content_type="application/json")
    assert answer.status_code == 400 and answer.json()["field"] == "url" and message in answer.json()["detail"]


def test_an_unknown_event_is_a_400(admin_api):
    answer = admin_api.post("/api/v1/webhooks/", {"name": "x", "url": "http://10.0.0.8/", "events": ["nope"]},
                            content_type="application/json")
    assert answer.status_code == 400 and "events" in answer.json()


def test_ping_logs_the_receivers_answer(admin_api, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    with http_receiver() as receiver:
        hook = WebhookSubscriptionFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            answer = admin_api.post(f"/api/v1/webhooks/{hook.pk}/ping/")
    assert answer.status_code == 201 and answer.json()["event"] == "ping"
    log = admin_api.get("/api/v1/webhook-deliveries/", {"webhook": hook.pk}).json()["results"]
    assert [(d["status"], d["response_code"]) for d in log] == [("delivered", 200)]
    assert log[0]["log"][0]["duration_ms"] >= 0


def test_the_delivery_log_filters_by_webhook_and_status(admin_api):
    mine = WebhookDeliveryFactory(status="failed")
    WebhookDeliveryFactory(status="failed")
    WebhookDeliveryFactory(subscription=mine.subscription, status="delivered")
    answer = admin_api.get("/api/v1/webhook-deliveries/", {"webhook": mine.subscription_id, "status": "failed"})
    assert [d["id"] for d in answer.json()["results"]] == [mine.pk]


def test_deleting_removes_the_log(admin_api):
    delivery = WebhookDeliveryFactory()
    assert admin_api.delete(f"/api/v1/webhooks/{delivery.subscription_id}/").status_code == 204
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("role", ["executive", "reviewer", "data_scientist"])
def test_other_roles_are_refused(client, db, role):
    hook = WebhookSubscriptionFactory()
    other = api(client, role)
    assert other.get("/api/v1/webhooks/").status_code == 403
    assert other.get(f"/api/v1/webhooks/{hook.pk}/").status_code == 403
    assert other.post(f"/api/v1/webhooks/{hook.pk}/ping/").status_code == 403


def test_the_schema_documents_the_webhook_endpoints(client_as):
    schema = client_as("admin").get("/api/schema/", {"format": "json"}).json()
    assert {"/api/v1/webhooks/", "/api/v1/webhooks/{id}/", "/api/v1/webhooks/{id}/ping/",
            "/api/v1/webhook-deliveries/", "/api/v1/webhook-deliveries/{id}/"} <= set(schema["paths"])

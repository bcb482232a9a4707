import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.core.models import ApiToken, hash_api_key
from apps.core.services import audit_record
from tests.factories import api_key_for


@pytest.fixture
def api(make_user):
    def client_for(role: str | None, **kwargs):
        client = APIClient()
        if role:
            client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user(role, **kwargs))}")
        return client

    return client_for


def test_token_authentication_identifies_the_user_and_roles(api):
    response = api("reviewer", username="rita").get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "rita" and response.json()["roles"] == ["reviewer"]


def test_anonymous_api_calls_get_401(api, db):
    assert api(None).get("/api/v1/me/").status_code == 401


def test_a_bad_token_gets_401_with_a_reason(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."


def test_audit_events_are_listed_and_filtered(api):
    for action in ("a.created", "b.created", "a.updated"):
        audit_record(actor=None, action=action, object_type="x.y", object_id="1")
    response = api("executive").get("/api/v1/audit-events/", {"action": "a."})
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == ["a.updated", "a.created"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_audit_events_cannot_be_written_through_the_api(api, method):
    event = audit_record(actor=None, action="x", object_type="x.y", object_id="1")
    client = api("admin")
    url = "/api/v1/audit-events/" if method == "post" else f"/api/v1/audit-events/{event.pk}/"
    assert getattr(client, method)(url, {"reason": "rewrite"}, format="json").status_code in (403, 405)


def test_the_openapi_schema_describes_the_api(api):
    response = api("data_scientist").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/audit-events/" in paths and "/api/v1/me/" in paths
    assert "tokenAuth" in response.json()["components"]["securitySchemes"]


def test_create_api_token_prints_a_new_key_that_is_stored_only_as_a_hash(make_user, capsys):
    make_user("data_scientist", username="sam")
    call_command("create_api_token", "sam", "--name", "CI")
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user__username="sam")
    assert token.key_hash == hash_api_key(key) and token.name == "CI" and token.prefix == key[:8]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").json()["username"] == "sam"


def test_create_api_token_rotate_revokes_the_earlier_tokens(make_user, capsys):
    make_user("data_scientist", username="sam")
    call_command("create_api_token", "sam")
    first = capsys.readouterr().out.strip()
    call_command("create_api_token", "sam", "--rotate")
    second = capsys.readouterr().out.strip()
    assert second != first
    statuses = {}
    for key in (first, second):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        statuses[key] = client.get("/api/v1/me/").status_code
    assert statuses == {first: 401, second: 200}


def test_create_api_token_explains_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_anonymous_api_calls_are_throttled(db, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import AnonRateThrottle

    AnonRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min"}
    try:
        client = APIClient()
        statuses = [client.get("/api/v1/me/").status_code for _ in range(5)]
    finally:
        AnonRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]


def test_the_api_docs_page_runs_no_inline_script(api):
    import re

    client = api("data_scientist")
    page = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all("src=" in attributes for attributes in scripts), scripts

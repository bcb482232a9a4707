"""API tokens: only a hash is stored, the key is shown once, tokens expire and can be revoked, all audited."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core import services
from apps.core.errors import PermissionDeniedError
from apps.core.models import ApiToken, AuditEvent, hash_api_key
from tests.factories import api_key_for


def me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/")


def test_it_stores_a_hash_of_the_key_never_the_key(make_user):
    issued = services.api_token_issue(user=make_user("data_scientist"))
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    assert row["key_hash"] == hash_api_key(issued.key)
    assert not any(issued.key in str(value) for value in row.values())
    assert me(issued.key).status_code == 200


def test_a_key_never_starts_with_a_dash_a_command_line_would_read_as_an_option(monkeypatch):
    from apps.core import models

    drawn = iter(["-starts-with-a-dash", "-again", "fine-key"])
    monkeypatch.setattr(models.secrets, "token_urlsafe", lambda size: next(drawn))

    assert models.new_api_key() == "fine-key"


def test_it_refuses_an_expired_token_with_401(make_user):
    key = api_key_for(make_user("data_scientist"), expires_at=timezone.now() - timedelta(seconds=1))
    response = me(key)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_it_refuses_a_revoked_token_with_401(make_user):
    sam = make_user("data_scientist")
    issued = services.api_token_issue(user=sam)
    services.api_token_revoke(actor=sam, token=issued.token)
    response = me(issued.key)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_it_refuses_the_token_of_a_deactivated_user(make_user):
    sam = make_user("data_scientist")
    key = api_key_for(sam)
    sam.is_active = False
    sam.save(update_fields=["is_active"])
    assert me(key).status_code == 401


def test_tokens_expire_after_the_configured_number_of_days(make_user, settings):
    settings.PORTAL_API_TOKEN_DAYS = 7
    token = services.api_token_issue(user=make_user("data_scientist")).token
    assert timedelta(days=7) - (token.expires_at - token.created_at) < timedelta(seconds=5)
    settings.PORTAL_API_TOKEN_DAYS = 0
    assert services.api_token_issue(user=make_user("reviewer")).token.expires_at is None


def test_creation_and_revocation_are_audited_without_the_key(make_user):
    sam = make_user("data_scientist", username="sam")
    issued = services.api_token_issue(user=sam, name="CI")
    services.api_token_revoke(actor=sam, token=issued.token, reason="laptop lost")
    events = list(AuditEvent.objects.filter(action__startswith="api_token.").order_by("seq"))
    assert [e.action for e in events] == ["api_token.created", "api_token.revoked"]
    assert events[0].changes["token"] == [None, issued.token.pk] and events[0].changes["name"] == [None, "CI"]
    assert events[1].reason == "laptop lost" and events[1].changes["revoked_at"][0] is None
    assert all(f"{issued.token.prefix}… (CI) of sam (#{issued.token.pk})" in e.object_repr for e in events)
    assert all(e.actor_username == "sam" and issued.key not in str(e.hashed_fields()) for e in events)


def test_it_notes_when_a_token_was_last_used(make_user):
    issued = services.api_token_issue(user=make_user("data_scientist"))
    assert issued.token.last_used_at is None
    assert me(issued.key).status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_only_the_owner_or_an_admin_revokes_a_token(make_user):
    token = services.api_token_issue(user=make_user("data_scientist")).token
    with pytest.raises(PermissionDeniedError):
        services.api_token_revoke(actor=make_user("reviewer"), token=token)
    services.api_token_revoke(actor=make_user("admin"), token=token)
    assert ApiToken.objects.get().revoked_at is not None


def test_the_account_page_revokes_the_users_token(client, make_user):
    sam = make_user("data_scientist")
    key = api_key_for(sam)
    client.force_login(sam)
    response = client.post(reverse("core:api-token-revoke"), {"token": ApiToken.objects.get().pk})
    assert response.status_code == 302 and me(key).status_code == 401


def test_the_account_page_cannot_revoke_someone_elses_token(client_as, make_user):
    key = api_key_for(make_user("data_scientist"))
    client = client_as("data_scientist")
    response = client.post(reverse("core:api-token-revoke"), {"token": ApiToken.objects.get().pk})
    assert response.status_code == 404 and me(key).status_code == 200


def test_the_admin_token_pages_show_no_key_and_no_hash(client_as, make_user):
    key = api_key_for(make_user("data_scientist", username="sam"))
    token = ApiToken.objects.get()
    client = client_as("admin")
    listing = client.get(reverse("admin:core_apitoken_changelist")).content.decode()
    page = client.get(reverse("admin:core_apitoken_change", args=[token.pk])).content.decode()
    assert token.prefix in listing and "sam" in page
    for content in (listing, page):
        assert key not in content and token.key_hash not in content


def test_the_admin_cannot_create_a_token(client_as):
    assert client_as("admin").get(reverse("admin:core_apitoken_add")).status_code == 403


def test_an_admin_revokes_a_token_through_the_admin_and_it_is_audited(client_as, make_user):
    key = api_key_for(make_user("data_scientist", username="sam"))
    client = client_as("admin", username="ada")
    response = client.post(reverse("admin:core_apitoken_changelist"),
                           {"action": "revoke", "_selected_action": [ApiToken.objects.get().pk]})
    assert response.status_code == 302 and me(key).status_code == 401
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor_username == "ada" and "of sam" in event.object_repr


def test_drf_tokens_move_to_hashes_and_their_keys_keep_working(make_user):
    """The data migration: DRF's plain-text keys become hashes, then DRF's table is dropped."""
    sam = make_user("data_scientist", username="sam")
    old_key = "a" * 40
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, "created" timestamp '
                       'with time zone NOT NULL, "user_id" integer NOT NULL)'
                       if connection.vendor == "postgresql" else
                       'CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, "created" datetime NOT NULL, '
                       '"user_id" integer NOT NULL)')
        cursor.execute('INSERT INTO "authtoken_token" VALUES (%s, %s, %s)', [old_key, timezone.now(), sam.pk])
    migration = importlib.import_module("apps.core.migrations.0006_api_token_from_drf")
    migration.hash_drf_tokens(apps, SimpleNamespace(connection=connection))
    assert "authtoken_token" not in connection.introspection.table_names()
    assert ApiToken.objects.get(user=sam).key_hash == hash_api_key(old_key)
    assert me(old_key).json()["username"] == "sam"


@pytest.mark.parametrize("value", ["", "²", "-1", "99999999999999999999999"])
def test_the_revoke_form_answers_a_malformed_token_id_with_4xx(client_as, value):
    response = client_as("executive").post(reverse("core:api-token-revoke"), {"token": value})
    assert response.status_code in (400, 404)

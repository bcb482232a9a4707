"""Secrets the portal uses again (MLflow credentials, webhook signing secrets) are sealed at rest."""

import importlib
import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core import sealing
from apps.core.models import AuditEvent
from apps.integrations.models import MlflowServer
from apps.integrations.services import credentials_for
from apps.notifications.models import WebhookSubscription
from tests.integrations.factories import MlflowServerFactory
from tests.notifications.factories import WebhookSubscriptionFactory


def test_a_sealed_value_opens_to_itself_and_does_not_contain_it(settings):
    stored = sealing.seal("whsec_abc123")
    assert stored.startswith("sealed:v1:") and "whsec_abc123" not in stored
    assert sealing.unseal(stored) == "whsec_abc123"
    assert sealing.seal("whsec_abc123") != stored  # a fresh IV each time: equal secrets do not look equal
    assert sealing.seal("") == "" and sealing.unseal("") == ""
    assert sealing.unseal("legacy plain value") == "legacy plain value"


def test_another_secret_key_cannot_open_it_and_says_what_to_do(settings):
    stored = sealing.seal("token")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    with pytest.raises(sealing.SealError, match="DJANGO_SECRET_KEY_FALLBACKS"):
        sealing.unseal(stored)


def test_a_rotated_secret_key_still_opens_through_its_fallback(settings):
    old = settings.SECRET_KEY
    stored = sealing.seal("token")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret-key-" + "y" * 40, [old]
    assert sealing.unseal(stored) == "token"
    resealed = sealing.reseal(stored)
    settings.SECRET_KEY_FALLBACKS = []
    assert sealing.unseal(resealed) == "token"


def test_explicit_sealing_keys_take_precedence_and_a_bad_one_is_named(settings):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_SEALING_KEYS = [second]
    stored = sealing.seal("token")
    assert Fernet(second.encode()).decrypt(stored.removeprefix("sealed:v1:").encode()) == b"token"
    settings.PORTAL_SEALING_KEYS = [first, second]  # rotated: the new key seals, the old one still opens
    assert sealing.unseal(stored) == "token"
    settings.PORTAL_SEALING_KEYS = ["not-a-key"]
    with pytest.raises(sealing.SealError, match="not a Fernet key"):
        sealing.seal("token")


@pytest.mark.django_db
def test_reseal_moves_every_stored_secret_to_the_current_key(settings):
    old = settings.SECRET_KEY
    server = MlflowServerFactory(auth="bearer", credential=sealing.seal("mlflow-token"))
    hook = WebhookSubscriptionFactory()
    plain_hook_secret = hook.signing_secret()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret-key-" + "z" * 40, [old]
    call_command("reseal_secrets", stdout=io.StringIO())
    settings.SECRET_KEY_FALLBACKS = []  # the old key is gone: everything still opens
    assert credentials_for(MlflowServer.objects.get(pk=server.pk)).header() == "Bearer mlflow-token"
    assert WebhookSubscription.objects.get(pk=hook.pk).signing_secret() == plain_hook_secret
    assert AuditEvent.objects.filter(action="secrets.resealed").get().changes == {"secrets": [None, 2]}


@pytest.mark.django_db
def test_reseal_changes_nothing_when_a_secret_cannot_be_opened(settings):
    server = MlflowServerFactory(auth="bearer", credential=sealing.seal("mlflow-token"))
    before = MlflowServer.objects.get(pk=server.pk).credential
    settings.SECRET_KEY = "unrelated-secret-key-" + "w" * 40
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("reseal_secrets")
    assert MlflowServer.objects.get(pk=server.pk).credential == before


@pytest.mark.django_db
def test_the_migrations_seal_values_stored_in_the_clear():
    server = MlflowServerFactory(auth="bearer", credential="plain-token")
    hook = WebhookSubscriptionFactory(secret="whsec_plain")
    for module in ("apps.integrations.migrations.0002_sealed_secrets",
                   "apps.notifications.migrations.0006_sealed_secrets"):
        importlib.import_module(module).seal_stored(django_apps, connection.schema_editor())
    with connection.cursor() as cursor:
        cursor.execute("SELECT credential FROM integrations_mlflowserver WHERE id = %s", [server.pk])
        [credential] = cursor.fetchone()
        cursor.execute("SELECT secret FROM notifications_webhooksubscription WHERE id = %s", [hook.pk])
        [secret] = cursor.fetchone()
    assert "plain-token" not in credential and sealing.unseal(credential) == "plain-token"
    assert "whsec_plain" not in secret and sealing.unseal(secret) == "whsec_plain"

"""Every checked password is audited, with the events single sign-on writes (method password or oidc)."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.roles import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_a_password_sign_in_is_audited(client):
    erin = UserFactory(username="erin", roles=[Role.EXECUTIVE])
    client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.object_id) == ("auth.login_succeeded", erin.pk, str(erin.pk))
    assert event.changes == {"method": [None, "password"]}


def test_a_wrong_password_is_audited_against_the_account(client):
    erin = UserFactory(username="erin", roles=[Role.EXECUTIVE])
    client.post(reverse("login"), {"username": "erin", "password": "wrong"})
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_id, event.object_repr) == (
        "auth.login_failed", None, str(erin.pk), "erin")
    assert event.reason == "wrong username or password"


def test_a_name_that_is_no_account_is_not_repeated_in_the_trail(client):
    client.post(reverse("login"), {"username": "my-secret-password", "password": "x"})
    event = AuditEvent.objects.get()
    assert event.object_repr == "(no such account)" and "my-secret-password" not in str(event.changes)


def test_tries_refused_by_the_lockout_write_nothing_more(client, settings):
    UserFactory(username="erin")
    for _ in range(settings.PORTAL_LOGIN_MAX_FAILURES + 3):
        client.post(reverse("login"), {"username": "erin", "password": "wrong"})
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == settings.PORTAL_LOGIN_MAX_FAILURES


def test_the_admin_login_is_audited_too(client):
    UserFactory(username="ada", roles=[Role.ADMIN])
    client.post(reverse("admin:login"), {"username": "ada", "password": PASSWORD, "next": "/admin/"})
    assert AuditEvent.objects.get().action == "auth.login_succeeded"


def test_made_up_names_cannot_grow_the_trail_without_bound(client, settings):
    # Each made-up name has lockout counters of its own; the trail keeps the first ones and says it stopped.
    settings.PORTAL_LOGIN_MAX_UNKNOWN_AUDITED = 3
    UserFactory(username="erin")
    for number in range(8):
        client.post(reverse("login"), {"username": f"nobody-{number}", "password": "x"})
    client.post(reverse("login"), {"username": "erin", "password": "wrong"})
    failed = list(AuditEvent.objects.filter(action="auth.login_failed").order_by("pk"))
    assert [event.object_repr for event in failed] == ["(no such account)"] * 4 + ["erin"]
    assert failed[3].reason.startswith("3 failed sign-ins naming no existing account within 15 minutes: further")
    assert all("nobody" not in event.reason for event in failed)

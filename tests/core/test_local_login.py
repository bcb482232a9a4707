"""PORTAL_LOCAL_LOGIN=false: no password form, no password sign-in, except superusers' break-glass at /admin/login/."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.roles import Role
from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def local_off(settings):
    settings.PORTAL_OIDC_ENABLED = True
    settings.PORTAL_OIDC_PROVIDER_NAME = "Acme ID"
    settings.PORTAL_LOCAL_LOGIN = False
    return settings


@pytest.mark.django_db
def test_the_login_page_hides_the_password_form(client, local_off):
    content = client.get(reverse("login")).content
    assert b'name="password"' not in content
    assert b"Sign in with Acme ID" in content


@pytest.mark.django_db
def test_a_right_password_posted_anyway_is_refused(client, local_off):
    UserFactory(username="erin", roles=[Role.EXECUTIVE])
    response = client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    assert response.status_code == 200
    assert b"Password sign-in is switched off" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_superuser_still_signs_in_at_the_admin_login_and_it_is_audited_as_break_glass(client, local_off):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and int(client.session["_auth_user_id"]) == root.pk
    event = AuditEvent.objects.get(action="auth.login_succeeded")
    assert event.reason.startswith("break-glass")


@pytest.mark.django_db
def test_an_admin_who_is_not_a_superuser_is_refused_at_the_admin_login(client, local_off):
    UserFactory(username="ada", roles=[Role.ADMIN])
    response = client.post(reverse("admin:login"), {"username": "ada", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "switched off" in AuditEvent.objects.get(action="auth.login_failed").reason


@pytest.mark.django_db
def test_break_glass_can_be_closed_too(client, local_off):
    local_off.PORTAL_BREAK_GLASS_SUPERUSERS = False
    UserFactory(username="root", is_superuser=True, is_staff=True)
    client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_switching_local_login_off_ends_existing_password_sessions(client, settings):
    client.post(reverse("login"), {"username": UserFactory(roles=[Role.EXECUTIVE]).username, "password": PASSWORD})
    assert client.get(reverse("core:home")).status_code == 200
    settings.PORTAL_LOCAL_LOGIN = False
    settings.PORTAL_OIDC_ENABLED = True
    assert client.get(reverse("core:home"))["Location"].startswith(reverse("login"))

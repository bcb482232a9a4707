"""Password change for everyone, no caching of private answers, no server banner."""

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.celery_helpers import free_port, wait_for
from tests.factories import PASSWORD, api_key_for

ROOT = Path(__file__).resolve().parents[2]
NEW = "a-new-pass-456!"


@pytest.mark.parametrize("role", ["executive", "reviewer", "data_scientist", "admin", None])
def test_every_user_changes_their_password_and_it_is_audited(client, make_user, role):
    person = make_user(role, username="pat")
    client.force_login(person)
    response = client.post(reverse("core:password-change"),
                           {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 302 and response["Location"] == reverse("core:account")
    person.refresh_from_db()
    assert person.check_password(NEW)
    assert client.get(reverse("core:password-change")).status_code == 200, "this session stays signed in"
    event = AuditEvent.objects.get(action="user.password_changed")
    assert event.actor_username == "pat" and event.object_id == str(person.pk) and NEW not in str(event.changes)


def test_a_wrong_current_password_changes_nothing(client_as):
    client = client_as("reviewer", username="rita")
    response = client.post(reverse("core:password-change"),
                           {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200 and b"old password was entered incorrectly" in response.content
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_the_account_page_links_to_the_password_change(client_as):
    content = client_as("executive").get(reverse("core:account")).content.decode()
    assert f'href="{reverse("core:password-change")}"' in content


def test_the_password_page_uses_the_portals_layout(client_as):
    content = client_as("executive").get(reverse("core:password-change")).content.decode()
    assert "MLOps Portal" in content and 'href="/static/' in content and "Django administration" not in content


@pytest.mark.parametrize("url", ["core:home", "core:account", "inventory:index"])
def test_signed_in_pages_are_not_stored(client_as, url):
    assert "no-store" in client_as("reviewer").get(reverse(url))["Cache-Control"]


def test_api_answers_are_not_stored(client, make_user):
    key = api_key_for(make_user("reviewer"))
    assert "no-store" in client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}")["Cache-Control"]
    assert "no-store" in client.get("/api/v1/me/")["Cache-Control"]


def test_gunicorn_names_no_server_software(tmp_path):
    port, log = free_port(), tmp_path / "gunicorn.log"
    env = {"PATH": "/usr/bin:/bin", "PORTAL_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "true"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mlops_portal.wsgi:application",
             "--config", "mlops_portal/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def healthz():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except OSError:
                return None

        response = wait_for(healthz, timeout=60, what="gunicorn", log_path=log)
        assert response.headers.get("Server") is None
        assert "gunicorn" not in str(response.headers).lower()
    finally:
        server.terminate()
        server.wait(timeout=10)

"""Deployment hygiene: production headers and cookies, throttled credentials, no secret in pages or logs.

Production settings are read at import time, so their checks run in a subprocess started with the production
environment (``DJANGO_DEBUG=false``), the way ``tests/core/test_settings.py`` checks them.
"""

import json
import logging

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

from tests.core.test_settings import PROD_ENV, PROD_KEY, run_python
from tests.factories import PASSWORD

DB_PASSWORD = "db-password-never-shown-4711"
PROBE = r'''
import json, logging, os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "mlops_portal.settings"
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

records = []
handler = logging.Handler()
handler.emit = lambda record: records.append(logging.Formatter().format(record))
logging.getLogger().addHandler(handler)
client = Client(raise_request_exception=False, HTTP_HOST="portal.example.org")
login = client.get("/accounts/login/", secure=True)
plain = client.get("/accounts/login/")
with override_settings(ROOT_URLCONF="tests.security.urls_failing"):
    failed = client.post("/failing/", {"password": "typed-password-0815"}, secure=True)
health = client.get("/healthz", secure=True)
print(json.dumps({
    "login_status": login.status_code, "headers": dict(login.headers),
    "cookies": {name: dict(morsel) for name, morsel in login.cookies.items()},
    "plain_status": plain.status_code, "plain_location": plain.get("Location", ""),
    "failed_status": failed.status_code, "failed_body": failed.content.decode(),
    "health_status": health.status_code, "health_body": health.content.decode(),
    "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_SECURE],
    "logs": records,
}))
'''


@pytest.fixture(scope="module")
def production():
    """One production process: a login page, a failing view and the health check, with the database down."""
    # No collectstatic here: plain static storage instead of the manifest production uses.
    env = {**PROD_ENV, "DATABASE_URL": f"postgres://portal:{DB_PASSWORD}@127.0.0.1:9/portal",
           "PORTAL_STATIC_MANIFEST": "false"}
    result = run_python(PROBE, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_pages_carry_the_security_headers(production):
    headers = {k.lower(): v for k, v in production["headers"].items()}
    assert production["login_status"] == 200
    csp = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";") if part.strip())
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'" and headers["x-frame-options"] == "DENY"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    hsts = headers["strict-transport-security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts


def test_production_redirects_plain_http_to_https(production):
    assert production["plain_status"] == 301
    assert production["plain_location"] == "https://portal.example.org/accounts/login/"


def test_production_cookies_are_secure_and_out_of_reach_of_scripts(production):
    csrf = production["cookies"]["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    # The session cookie is set only on sign-in, which needs the database this process cannot reach.
    assert production["session"] == [True, True, True]


def test_a_failing_request_shows_no_secret_and_logs_none(production):
    assert production["failed_status"] == 500
    page = production["failed_body"]
    assert "Something went wrong" in page and "Traceback" not in page
    logs = "\n".join(production["logs"])
    assert "RuntimeError: the view failed" in logs, "the failure is logged"
    for secret in (PROD_KEY, DB_PASSWORD, "typed-password-0815"):
        assert secret not in page and secret not in logs


def test_an_unreachable_database_leaks_no_password(production):
    assert production["health_status"] == 503 and DB_PASSWORD not in production["health_body"]
    assert DB_PASSWORD not in "\n".join(production["logs"])


# --- In the test process: credentials and the logs ----------------------------------------------------

@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield caplog
    logging.getLogger().setLevel(logging.INFO)


def logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)


def test_a_failed_login_logs_neither_the_password_nor_the_secret(client, make_user, all_logs, settings):
    make_user("executive", username="erin")
    response = client.post(reverse("login"), {"username": "erin", "password": "wrong-password-1234"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    text = logged(all_logs) + response.content.decode()
    assert "wrong-password-1234" not in text and settings.SECRET_KEY not in text


def test_a_bad_token_is_neither_echoed_nor_logged(make_user, all_logs):
    make_user("executive", username="erin")
    guess = "f" * 40
    response = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {guess}")
    assert response.status_code == 401
    assert guess not in response.content.decode() and guess not in logged(all_logs)


def test_a_failing_view_logs_the_error_without_secrets(make_user, all_logs, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.security.urls_failing"
    response = Client(raise_request_exception=False).post("/failing/", {"password": "typed-password-0815"})
    assert response.status_code == 500
    text = logged(all_logs)
    assert "the view failed" in text
    for secret in (settings.SECRET_KEY, "typed-password-0815"):
        assert secret not in text and secret not in response.content.decode()


@pytest.fixture
def anon_rate_of_three():
    AnonRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min"}
    cache.clear()
    yield
    AnonRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_guessing_tokens_is_throttled(make_user, anon_rate_of_three):
    client = Client()
    statuses = [client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {n:040d}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_guessing_passwords_locks_the_account_from_that_address(client, make_user, settings):
    make_user("executive", username="erin")
    for n in range(settings.PORTAL_LOGIN_MAX_FAILURES):
        client.post(reverse("login"), {"username": "erin", "password": f"guess-{n}"})
    locked = client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    assert b"Too many failed attempts" in locked.content and "_auth_user_id" not in client.session

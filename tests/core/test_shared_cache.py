"""Throttle counters and login lockouts are shared by every process: by default in a database table.

The rest of the suite runs on an in-process cache (tests/conftest.py); these tests use the default.
"""

from datetime import UTC, timedelta

import pytest
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.core import forms
from apps.core.permissions import AnonThrottle
from tests.core.test_settings import run_python
from tests.factories import PASSWORD

PRINT_CACHE = ("import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'mlops_portal.settings'; django.setup(); "
               "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])")


def test_without_cache_url_the_cache_is_the_database_table(tmp_path):
    result = run_python(PRINT_CACHE, PORTAL_VAR_DIR=str(tmp_path))
    assert result.stdout.split() == ["django.core.cache.backends.db.DatabaseCache", "portal_cache"], result.stderr


def test_with_cache_url_the_cache_is_redis(tmp_path):
    result = run_python(PRINT_CACHE, PORTAL_VAR_DIR=str(tmp_path), CACHE_URL="redis://127.0.0.1:6379/5")
    assert result.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/5"]


def test_migrate_creates_the_cache_table(db):
    assert "portal_cache" in connection.introspection.table_names()


@pytest.fixture
def two_processes(db):
    """Two cache clients on the one table, as two gunicorn workers hold them."""
    first, second = DatabaseCache("portal_cache", {}), DatabaseCache("portal_cache", {})
    first.clear()
    yield first, second
    first.clear()


def test_login_failures_in_one_process_lock_the_account_in_another(client, make_user, settings, monkeypatch,
                                                                   two_processes):
    first, second = two_processes
    make_user("executive", username="erin")
    monkeypatch.setattr(forms, "cache", first)
    for n in range(settings.PORTAL_LOGIN_MAX_FAILURES):
        client.post(reverse("login"), {"username": "erin", "password": f"guess-{n}"})
    monkeypatch.setattr(forms, "cache", second)
    locked = client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    assert b"Too many failed attempts" in locked.content and "_auth_user_id" not in client.session


def test_the_anonymous_throttle_counts_calls_to_every_process(client, settings, monkeypatch, two_processes):
    first, second = two_processes
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3000/min"})
    monkeypatch.setattr(AnonThrottle, "cache", first)
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [401, 401, 401]
    monkeypatch.setattr(AnonThrottle, "cache", second)
    assert client.get("/api/v1/me/").status_code == 429


def test_a_lockout_in_the_database_cache_lasts_the_configured_period(client, make_user, settings, monkeypatch,
                                                                     two_processes):
    first, _ = two_processes
    settings.PORTAL_LOGIN_LOCKOUT_SECONDS = 3600
    make_user("executive", username="erin")
    monkeypatch.setattr(forms, "cache", first)
    client.post(reverse("login"), {"username": "erin", "password": "nope"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM portal_cache")
        expiries = [row[0] for row in cursor.fetchall()]
    soonest = min(timezone.make_aware(e, UTC) if timezone.is_naive(e) else e for e in expiries)
    assert len(expiries) == 2 and soonest > timezone.now() + timedelta(seconds=3500)

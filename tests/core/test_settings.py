"""Settings come from the environment; production refuses unsafe ones."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_portal.env import envbool, envint, envlist

ROOT = Path(__file__).resolve().parents[2]
PROD_KEY = "k" * 20 + "-production-secret-for-tests-only-" + "z" * 20


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "PORTAL_"))}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)


def manage(*args, **env) -> subprocess.CompletedProcess:
    return run_python(f"import sys; sys.argv = ['manage.py', *{list(args)!r}]; "
                      "from manage import main; main()", **env)


PROD_ENV = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": PROD_KEY, "DJANGO_ALLOWED_HOSTS": "portal.example.org"}


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="portal.example.org")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = manage("check", **{**PROD_ENV, "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0 and "at least 50 characters" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=PROD_KEY)
    assert result.returncode != 0 and "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_embedded_default_needs_no_server():
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='mlops_portal.settings'; django.setup();"
            "from django.conf import settings as s;"
            "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL, s.DEBUG)")
    engine, name, broker, debug = run_python(code).stdout.split()
    assert engine == "django.db.backends.sqlite3" and name.endswith("var/portal.sqlite3")
    assert broker == "filesystem://localhost//" and debug == "True"


def test_database_and_broker_urls_switch_to_postgres_and_redis():
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='mlops_portal.settings'; django.setup();"
            "from django.conf import settings as s; from mlops_portal.celery import app;"
            "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], app.conf.broker_url)")
    result = run_python(code, DATABASE_URL="postgres://u:p@db:5432/portal", CELERY_BROKER_URL="redis://cache:6379/0")
    assert result.stdout.split() == ["django.db.backends.postgresql", "portal", "redis://cache:6379/0"]


def test_env_helpers_reject_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ValueError, match="X_FLAG='maybe' is not a boolean"):
        envbool("X_FLAG", False)
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ValueError, match="not an integer"):
        envint("X_NUM", 1)
    monkeypatch.setenv("X_LIST", " a, ,b ")
    assert envlist("X_LIST") == ["a", "b"]

"""docker-compose.yml and the Dockerfile are for users; no Docker engine runs here, so check them by reading."""

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_five_services_and_a_migration_step(compose):
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(compose["services"])


@pytest.mark.parametrize("name", ["web", "worker", "beat", "postgres", "redis"])
def test_every_long_running_service_has_a_healthcheck(compose, name):
    assert compose["services"][name]["healthcheck"]["test"]


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    volumes = compose["services"]["postgres"]["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes)
    assert "postgres-data" in compose["volumes"]


def test_portal_services_read_their_settings_from_the_environment(compose):
    for name in ("web", "worker", "beat", "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["DJANGO_DEBUG"] == "false"
        assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?"), "the secret must come from .env"


def test_commands_name_modules_that_exist(compose):
    web = compose["services"]["web"]["command"]
    assert web[0] == "gunicorn"
    module, attr = web[1].split(":")
    assert hasattr(importlib.import_module(module), attr)
    for name in ("worker", "beat"):
        command = compose["services"][name]["command"]
        assert command[:3] == ["celery", "-A", "mlops_portal"] and command[3] == name
        assert importlib.import_module(command[2]).celery_app.main == "mlops_portal"
    migrate = compose["services"]["migrate"]["command"]
    assert migrate[:2] == ["python", "manage.py"] and (ROOT / "manage.py").exists()


def test_dockerfile_installs_the_lock_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*-r requirements\.lock", dockerfile)
    assert re.search(r"^USER portal$", dockerfile, re.M)
    assert "mlops_portal.wsgi:application" in dockerfile


def test_the_lock_pins_every_declared_dependency():
    import tomllib

    lock = {
        re.split(r"==", line)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all("==" in line for line in (ROOT / "requirements.lock").read_text().splitlines()
               if line and not line.startswith("#"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=\[ ;]", dep)[0].lower().replace("_", "-") for dep in declared}
    assert names - lock == set()


def test_web_and_worker_share_an_object_store_not_a_disk(compose):
    for name in ("web", "worker", "beat", "migrate"):
        service = compose["services"][name]
        env = service["environment"]
        assert env["PORTAL_STORAGE"] == "s3" and env["PORTAL_S3_ENDPOINT_URL"].endswith("http://minio:9000}")
        assert env["AWS_SECRET_ACCESS_KEY"].startswith("${PORTAL_S3_SECRET_KEY:?"), "the key must come from .env"
        assert not service.get("volumes"), f"{name} mounts a volume: web and worker must need no shared disk"
        # The migration step waits for the bucket; the others wait for the migration step.
        first = "bucket" if name == "migrate" else "migrate"
        assert service["depends_on"][first]["condition"] == "service_completed_successfully"
    assert compose["services"]["minio"]["healthcheck"]["test"]
    assert "object-data:/data" in compose["services"]["minio"]["volumes"]
    assert "mc mb --ignore-existing" in compose["services"]["bucket"]["command"][0]


def test_every_celery_queue_has_a_worker_and_the_heavy_one_can_scale_alone(compose):
    from django.conf import settings

    consumed = {}
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "mlops_portal", "worker"]:
            queues = command[command.index("-Q") + 1].split(",")
            consumed.update(dict.fromkeys(queues, name))
            assert service["healthcheck"]["test"] and service["environment"]["PORTAL_STORAGE"] == "s3"
    assert set(consumed) == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert consumed[settings.PORTAL_HEAVY_QUEUE] != consumed["celery"], "heavy work needs workers of its own"

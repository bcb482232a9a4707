"""The admin pages of the MLflow integration: connect a server (its credential never shown back), test, sync."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.integrations.models import MlflowServer, SyncRun
from apps.integrations.services import credentials_for
from tests.integrations.factories import MlflowServerFactory, SyncRunFactory
from tests.inventory.factories import TeamFactory

pytestmark = pytest.mark.django_db


def form(team, owner, **fields) -> dict:
    return {"name": "MLflow prod", "url": "http://mlflow.internal:5000", "auth": "bearer",
            "credential": "s3cr3t-token-value", "team": team.pk, "owner": owner.pk, "page_size": 100,
            "enabled": "on", **fields}


def test_an_admin_connects_a_server_whose_credential_is_never_shown_back(client_as, make_user):
    client = client_as("admin")
    owner, team = make_user("data_scientist"), TeamFactory()
    response = client.post(reverse("integrations:server-create"), form(team, owner))
    server = MlflowServer.objects.get(name="MLflow prod")
    assert response.status_code == 302 and response.url == server.get_absolute_url()
    assert (server.key, server.registry) == ("mlflow-prod", "mlflow:mlflow-prod")
    assert "s3cr3t-token-value" not in server.credential  # sealed at rest
    assert credentials_for(server).header() == "Bearer s3cr3t-token-value"
    for page in (server.get_absolute_url(), reverse("integrations:servers"), reverse("integrations:server-create")):
        body = client.get(page).content.decode()
        assert "s3cr3t-token-value" not in body
    assert "stored (never shown)" in client.get(server.get_absolute_url()).content.decode()
    event = AuditEvent.objects.get(action="mlflow_server.connected")
    assert "s3cr3t" not in str(event.changes)


@pytest.mark.parametrize(("fields", "message"), [
    ({"url": "mlflow.internal"}, "http(s)://host:port"),
    ({"credential": "", "credential_env": ""}, "needs a credential"),
    ({"credential": "", "credential_env": "NOT A NAME"}, "letters, digits and underscores"),
    ({"auth": "basic", "credential": "no-colon"}, "user:password"),
])
def test_bad_input_is_refused_with_a_message(client_as, make_user, fields, message):
    client = client_as("admin")
    response = client.post(reverse("integrations:server-create"), form(TeamFactory(), make_user(), **fields))
    assert response.status_code == 400 and message in response.content.decode()
    assert not MlflowServer.objects.exists()


def test_a_credential_from_the_environment_is_read_when_used(monkeypatch):
    from apps.core.errors import DomainError
    from apps.integrations.services import credentials_for

    server = MlflowServerFactory(auth="bearer", credential_env="PORTAL_TEST_MLFLOW_TOKEN")
    monkeypatch.delenv("PORTAL_TEST_MLFLOW_TOKEN", raising=False)
    with pytest.raises(DomainError, match="PORTAL_TEST_MLFLOW_TOKEN is not set"):
        credentials_for(server)
    monkeypatch.setenv("PORTAL_TEST_MLFLOW_TOKEN", "from-env")
    assert credentials_for(server).header() == "Bearer from-env"


def test_the_connection_test_says_why_it_failed(client_as):
    client = client_as("admin")
    server = MlflowServerFactory(url="http://127.0.0.1:9")
    response = client.post(reverse("integrations:server-test", kwargs={"pk": server.pk}), follow=True)
    assert "The connection test failed: Cannot reach MLflow at http://127.0.0.1:9" in response.content.decode()


def test_sync_now_queues_a_run_and_refuses_a_second_while_one_is_queued(client_as, django_capture_on_commit_callbacks):
    client = client_as("admin")
    server = MlflowServerFactory(url="http://127.0.0.1:9")
    url = reverse("integrations:server-sync", kwargs={"pk": server.pk})
    with django_capture_on_commit_callbacks(execute=False):
        client.post(url)
    run = SyncRun.objects.get(server=server)
    assert (run.status, run.requested_by) == (SyncRun.Status.QUEUED, client.user)
    response = client.post(url, follow=True)
    assert "already queued or running" in response.content.decode()
    assert SyncRun.objects.filter(server=server).count() == 1


def test_a_queued_run_executes_through_the_task_and_its_log_page_shows_the_error(client_as,
                                                                                 django_capture_on_commit_callbacks):
    client = client_as("admin")
    server = MlflowServerFactory(url="http://127.0.0.1:9")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("integrations:server-sync", kwargs={"pk": server.pk}))
    run = SyncRun.objects.get(server=server)
    assert run.status == SyncRun.Status.FAILED
    body = client.get(run.get_absolute_url()).content.decode()
    assert "Cannot reach MLflow at http://127.0.0.1:9" in body


def test_the_sync_log_lists_runs_with_counts(client_as):
    client = client_as("admin")
    run = SyncRunFactory()
    body = client.get(run.server.get_absolute_url()).content.decode()
    assert "versions_created 3" in body and run.get_absolute_url() in body


def test_disconnecting_keeps_the_models(client_as):
    client = client_as("admin")
    server = MlflowServerFactory()
    response = client.post(reverse("integrations:server-delete", kwargs={"pk": server.pk}))
    assert response.status_code == 302 and not MlflowServer.objects.exists()
    assert AuditEvent.objects.filter(action="mlflow_server.disconnected").exists()


def test_the_version_page_shows_what_mlflow_holds(client_as):
    from django.utils import timezone

    from apps.inventory.models import ExternalRegistryLink
    from tests.inventory.factories import ModelVersionFactory

    version = ModelVersionFactory()
    ExternalRegistryLink.objects.create(
        version=version, registry="mlflow:prod", registry_label="MLflow prod", name="churn", external_version="4",
        aliases=["champion"], production_marks=["alias champion"], last_seen_at=timezone.now(),
        details={"run_id": "abc123", "files": {"requirements.txt": "scikit-learn==1.6.1"}})
    body = client_as("executive").get(version.get_absolute_url()).content.decode()
    assert "churn version 4" in body and "alias champion" in body and "abc123" in body
    assert "scikit-learn==1.6.1" in body


def test_the_command_names_an_unknown_server_and_fails_an_unreachable_one(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No MLflow server named nope"):
        call_command("sync_mlflow", "nope")
    MlflowServerFactory(name="Down", url="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="A sync failed"):
        call_command("sync_mlflow", "Down")
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED

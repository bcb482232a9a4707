"""The MLflow servers API: admins connect, sync and read the log; the credential is write-only."""

import pytest
from django.urls import reverse

from apps.integrations.models import MlflowServer, SyncRun
from apps.integrations.services import credentials_for
from tests.integrations.factories import MlflowServerFactory, SyncRunFactory
from tests.inventory.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_an_admin_connects_a_server_and_never_reads_its_credential_back(client_as, make_user):
    client = client_as("admin")
    team, owner = TeamFactory(), make_user("data_scientist")
    response = client.post(reverse("mlflow-server-list"), {
        "name": "MLflow", "url": "http://mlflow:5000", "auth": "basic", "credential": "ann:pw", "team": team.slug,
        "owner": owner.username}, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "credential" not in body and body["credential_source"] == "stored (never shown)"
    assert "ann:pw" not in client.get(reverse("mlflow-server-detail", kwargs={"pk": body["id"]})).content.decode()
    stored = MlflowServer.objects.get()
    assert "ann:pw" not in stored.credential and credentials_for(stored).header() == "Basic YW5uOnB3"


def test_a_bad_url_is_refused_naming_the_field(client_as, make_user):
    client = client_as("admin")
    response = client.post(reverse("mlflow-server-list"), {
        "name": "MLflow", "url": "ftp://x", "team": TeamFactory().slug, "owner": make_user().username},
        content_type="application/json")
    assert response.status_code == 400 and "http(s)://host:port" in str(response.json())


def test_sync_is_queued_and_a_second_refused(client_as, django_capture_on_commit_callbacks):
    client = client_as("admin")
    server = MlflowServerFactory()
    url = reverse("mlflow-server-sync", kwargs={"pk": server.pk})
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url)
    assert response.status_code == 201 and response.json()["status"] == "queued"
    assert client.post(url).status_code == 409


def test_the_sync_log_filters_by_server(client_as):
    client = client_as("admin")
    mine, other = SyncRunFactory(), SyncRunFactory()
    body = client.get(reverse("mlflow-sync-run-list"), {"server": mine.server_id}).json()
    assert [r["id"] for r in body["results"]] == [mine.pk] and other.pk != mine.pk
    assert body["results"][0]["counts"] == {"models_seen": 2, "versions_created": 3}
    assert SyncRun.objects.count() == 2


def test_a_failed_connection_test_says_why(client_as):
    client = client_as("admin")
    server = MlflowServerFactory(url="http://127.0.0.1:9")
    body = client.post(reverse("mlflow-server-test", kwargs={"pk": server.pk})).json()
    assert body["ok"] is False and "Cannot reach MLflow at http://127.0.0.1:9" in body["detail"]

"""The MLflow sync against a real ``mlflow server`` (tests/integrations/conftest.py): models and versions with
their environment come in, re-running changes nothing, an interrupted pass resumes, nothing typed in the portal
is overwritten."""

import pytest

from apps.core.models import AuditEvent
from apps.integrations import services
from apps.integrations.models import MlflowServer, RegisteredModelLink, SyncConflict, SyncRun
from apps.inventory.models import ExternalRegistryLink, MLModel, ModelVersion
from tests.integrations.factories import MlflowServerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def logged(mlflow_server):
    """Two registered models logged once for this module: one with two versions."""
    a, b = mlflow_server.unique("churn"), mlflow_server.unique("fraud")
    first, second, other = mlflow_server.act({"op": "log", "name": a, "C": 0.5}, {"op": "log", "name": a, "C": 2.0},
                                             {"op": "log", "name": b, "C": 1.0})
    return {"a": a, "b": b, "first": first, "second": second, "other": other}


def server_for(mlflow_server, **fields) -> MlflowServer:
    return MlflowServerFactory(url=mlflow_server.url, **fields)


def test_it_brings_in_registered_models_with_their_run_and_environment(mlflow_server, logged):
    server = server_for(mlflow_server)
    run = services.sync_now(actor=None, server=server)
    assert run.status == SyncRun.Status.DONE, run.errors
    model = RegisteredModelLink.objects.get(server=server, name=logged["a"]).model
    assert (model.team, model.accountable_owner) == (server.team, server.owner)
    first = ModelVersion.objects.get(model=model, version=logged["first"]["version"])
    second = ModelVersion.objects.get(model=model, version=logged["second"]["version"])
    assert first.hyperparameters == {"C": "0.5", "solver": "lbfgs"} and second.hyperparameters["C"] == "2.0"
    assert 0 <= first.validation_metrics["accuracy"] <= 1
    env = first.validated_environment
    assert env["packages"]["scikit-learn"] == logged["first"]["sklearn"]
    assert env["packages"]["numpy"] == logged["first"]["numpy"]
    assert env["python"].count(".") == 2
    assert first.framework == f"scikit-learn {logged['first']['sklearn']}"
    assert first.artifact_uri.startswith("models:/")
    link = ExternalRegistryLink.objects.get(version=first)
    assert link.details["signature"]["inputs"][0]["type"] == "tensor"
    assert "scikit-learn==" in link.details["files"]["requirements.txt"]
    assert set(link.details["files"]) == {"MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml"}
    assert link.details["run_id"] and link.details["run_tags"]["mlflow.user"]
    assert run.counts["versions_created"] >= 3 and run.counts["models_created"] >= 2
    assert AuditEvent.objects.filter(action="version.created", object_id=str(first.pk)).exists()
    assert AuditEvent.objects.filter(action="mlflow.synced", object_id=str(server.pk)).count() == 1


def test_re_running_the_sync_changes_nothing(mlflow_server, logged):
    server = server_for(mlflow_server)
    services.sync_now(actor=None, server=server)
    snapshot = list(ModelVersion.objects.order_by("pk").values())
    links = list(ExternalRegistryLink.objects.order_by("pk").values("pk", "aliases", "imported", "details"))
    events = AuditEvent.objects.count()
    again = services.sync_now(actor=None, server=server)
    assert again.status == SyncRun.Status.DONE, again.errors
    changed = {k: v for k, v in again.counts.items() if k not in ("models_seen", "versions_seen") and v}
    assert changed == {}
    assert list(ModelVersion.objects.order_by("pk").values()) == snapshot
    assert list(ExternalRegistryLink.objects.order_by("pk").values("pk", "aliases", "imported", "details")) == links
    # Only the two audit events of the run itself: requested and synced.
    assert list(AuditEvent.objects.filter(seq__gt=events).values_list("action", flat=True).order_by("seq")) == [
        "mlflow.sync_requested", "mlflow.synced"]


def test_an_interrupted_sync_resumes_where_it_stopped(mlflow_server, logged):
    server = server_for(mlflow_server, page_size=1)
    first = services.sync_now(actor=None, server=server, max_pages=1)
    server.refresh_from_db()
    assert first.status == SyncRun.Status.PARTIAL and first.counts["models_seen"] == 1
    cursor = server.cursor
    assert cursor, "a partial run leaves the page token where the next one resumes"
    assert MLModel.objects.count() == 1
    second = services.sync_now(actor=None, server=server)
    server.refresh_from_db()
    assert second.status == SyncRun.Status.DONE and second.resumed_from == cursor
    assert server.cursor == ""
    linked = set(RegisteredModelLink.objects.filter(server=server).values_list("name", flat=True))
    assert {logged["a"], logged["b"]} <= linked
    # The resumed run did not read the first page again.
    assert second.counts["models_seen"] == len(linked) - 1


def test_a_field_typed_in_the_portal_is_kept_and_the_conflict_shown(mlflow_server, logged):
    server = server_for(mlflow_server)
    services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=logged["b"], version=logged["other"]["version"])
    version.description = "Typed in the portal."
    version.save(update_fields=["description"])
    mlflow_server.rest("PATCH", "model-versions/update", {"name": logged["b"], "version": logged["other"]["version"],
                                                          "description": "Changed in MLflow."})
    run = services.sync_now(actor=None, server=server)
    version.refresh_from_db()
    assert version.description == "Typed in the portal."
    conflict = SyncConflict.objects.get(version=version, field="description", resolved_at__isnull=True)
    assert (conflict.portal_value, conflict.mlflow_value) == ("Typed in the portal.", "Changed in MLflow.")
    assert run.counts["conflicts"] == 1
    # The portal takes MLflow's value: the conflict is resolved on the next sync.
    version.description = "Changed in MLflow."
    version.save(update_fields=["description"])
    services.sync_now(actor=None, server=server)
    conflict.refresh_from_db()
    assert conflict.resolved_at is not None


def test_an_unreachable_server_fails_the_run_with_a_message_and_keeps_the_cursor(db):
    server = MlflowServerFactory(url="http://127.0.0.1:9", cursor="tok")
    run = services.sync_now(actor=None, server=server)
    server.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "Cannot reach MLflow at http://127.0.0.1:9" in run.errors[0]
    assert server.cursor == "tok"

"""Shadow promotion against a real ``mlflow server``: a production alias on a version the portal has not approved
raises a reason, a red flag and a notification to the owner; it clears when the alias moves or the version is
approved. The governance state goes back to MLflow as tags, read there with MLflow's own client."""

import pytest

from apps.integrations import services
from apps.inventory.models import ExternalRegistryLink, ModelGovernance, ModelVersion, VersionGovernance
from apps.notifications.models import Notification
from tests.integrations.factories import MlflowServerFactory
from tests.portfolio.helpers import approve, refresh

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def registered(mlflow_server):
    name = mlflow_server.unique("pricing")
    [logged] = mlflow_server.act({"op": "log", "name": name, "C": 0.3})
    return name, logged["version"]


def flags(model) -> set[str]:
    return {f["kind"] for f in ModelGovernance.objects.get(model=model).flags}


def test_a_production_alias_on_an_unapproved_version_raises_a_red_flag_and_tells_the_owner(mlflow_server, registered):
    name, label = registered
    mlflow_server.alias(name, "champion", label)
    server = MlflowServerFactory(url=mlflow_server.url)
    run = services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=name, version=label)
    assert version.stage == "development"  # the portal's own stage is not what MLflow says
    state = VersionGovernance.objects.get(version=version)
    [reason] = [r for r in state.reasons if r["code"] == "shadow_promotion"]
    assert "alias champion on MLflow" in reason["message"] and state.status == "non_compliant"
    assert "shadow_promotion" in flags(version.model)
    [flag] = [f for f in ModelGovernance.objects.get(model=version.model).flags if f["kind"] == "shadow_promotion"]
    assert flag["severity"] == "high"
    notice = Notification.objects.get(recipient=server.owner, kind="shadow_promotion")
    assert name in notice.body and "champion" in notice.body
    assert run.counts["shadow_promotions"] >= 1
    # A second sync does not notify again.
    services.sync_now(actor=None, server=server)
    assert Notification.objects.filter(recipient=server.owner, kind="shadow_promotion").count() == 1

    # The alias moves away: the flag clears.
    mlflow_server.unalias(name, "champion")
    services.sync_now(actor=None, server=server)
    assert "shadow_promotion" not in flags(version.model)
    assert ExternalRegistryLink.objects.get(version=version).shadow_notified_at is None


def test_approving_the_version_clears_the_flag(mlflow_server, registered):
    name, label = registered
    mlflow_server.alias(name, "prod", label)
    server = MlflowServerFactory(url=mlflow_server.url)
    services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=name, version=label)
    assert "shadow_promotion" in flags(version.model)
    approve(version)
    refresh(version.model)
    assert "shadow_promotion" not in flags(version.model)
    assert VersionGovernance.objects.get(version=version).approval == "approved"
    mlflow_server.unalias(name, "prod")


def test_a_stage_or_alias_not_meaning_production_raises_nothing(mlflow_server, registered, settings):
    name, label = registered
    settings.PORTAL_MLFLOW_PRODUCTION_ALIASES = ["live"]
    mlflow_server.alias(name, "champion", label)
    server = MlflowServerFactory(url=mlflow_server.url)
    services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=name, version=label)
    assert ExternalRegistryLink.objects.get(version=version).aliases == ["champion"]
    assert "shadow_promotion" not in flags(version.model)
    mlflow_server.unalias(name, "champion")


def test_the_governance_state_is_written_back_as_mlflow_tags(mlflow_server, registered):
    name, label = registered
    server = MlflowServerFactory(url=mlflow_server.url)
    services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=name, version=label)
    state = VersionGovernance.objects.get(version=version)
    [tags] = mlflow_server.act({"op": "tags", "name": name, "version": label})
    assert tags["portal.governance_state"] == state.status
    assert tags["portal.approval"] == state.approval == "missing"
    assert tags["portal.url"].endswith(version.get_absolute_url())
    # Approved in the portal: the next sync writes the new state, and only what changed.
    approve(version)
    refresh(version.model)
    run = services.sync_now(actor=None, server=server)
    [tags] = mlflow_server.act({"op": "tags", "name": name, "version": label})
    assert tags["portal.approval"] == "approved"
    assert run.counts["tags_written"] == 1 + (tags["portal.governance_state"] != state.status)


def test_the_production_stage_raises_it_too(mlflow_server, registered):
    name, label = registered
    mlflow_server.rest("POST", "model-versions/transition-stage",
                       {"name": name, "version": label, "stage": "Production", "archive_existing_versions": False})
    server = MlflowServerFactory(url=mlflow_server.url)
    services.sync_now(actor=None, server=server)
    version = ModelVersion.objects.get(registry_links__name=name, version=label)
    assert ExternalRegistryLink.objects.get(version=version).production_marks == ["stage Production"]
    assert "shadow_promotion" in flags(version.model)
    mlflow_server.rest("POST", "model-versions/transition-stage",
                       {"name": name, "version": label, "stage": "None", "archive_existing_versions": False})

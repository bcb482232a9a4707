import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.inventory import gates, services
from apps.inventory.environment import current_fingerprint
from apps.inventory.models import BusinessProcess, DataSet, Deployment, MLModel, ModelVersion, Stage, Tag
from tests.compliance.factories import UseCaseFactory
from tests.factories import UserFactory
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    BusinessUnitFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)

MISMATCH = [{"component": "scikit-learn", "validated": "1.6.1", "runtime": "1.3.2"}]
READERS = ["executive", "reviewer"]


def build_portfolio(count: int) -> None:
    """``count`` fully populated models: people, tags, processes, versions, data and deployments."""
    process, dataset = BusinessProcessFactory(), DataSetFactory()
    tag = Tag.objects.create(name="credit")
    for i in range(count):
        model = MLModelFactory(accountable_owner=UserFactory(is_active=i % 3 != 0), business_processes=[process])
        model.tags.set([tag])
        model.technical_owners.set([UserFactory()])
        for label in ("1.0", "2.0"):
            version = ModelVersionFactory(model=model, version=label, training_datasets=[dataset])
        DeploymentFactory(version=version, business_process=process, environment_mismatch=i % 2 == 0,
                          mismatch_details=MISMATCH if i % 2 == 0 else [])


def model_with_lineage(versions: int) -> MLModel:
    model = MLModelFactory(accountable_owner=UserFactory(is_active=False))
    model.tags.set([Tag.objects.create(name="retail")])
    model.business_processes.set([BusinessProcessFactory()])
    for i in range(versions):
        step = PipelineStepFactory(inputs=[DataSetFactory(), DataSetFactory()])
        version = ModelVersionFactory(model=model, version=f"{i}.0", training_datasets=[step.output, DataSetFactory()])
        services.version_transition(actor=None, version=version, to_stage=Stage.VALIDATION, reason="tests pass")
        DeploymentFactory(version=version, environment_mismatch=True, mismatch_details=MISMATCH)
        DeploymentFactory(version=version, retired_at=timezone.now())
    return model


# --- Model list -----------------------------------------------------------------------------

@pytest.mark.parametrize("count", [5, 30])
def test_it_lists_models_in_a_constant_number_of_queries(client_as, django_assert_max_num_queries, count):
    build_portfolio(count)
    client = client_as("executive")
    with django_assert_max_num_queries(10):
        response = client.get(reverse("inventory:index"))
    assert response.status_code == 200 and len(response.context["models"]) == count


def test_it_shows_stage_owner_left_latest_version_and_mismatch_flag(client_as):
    owner = UserFactory(first_name="Olga", last_name="Left", is_active=False)
    version = ModelVersionFactory(model__name="Churn", model__accountable_owner=owner, version="3.1", stage="staging")
    DeploymentFactory(version=version, environment_mismatch=True)
    content = client_as("executive").get(reverse("inventory:index")).content.decode()
    assert "Olga Left" in content and ">left</span>" in content
    assert 'stage-badge stage-development' in content and ">3.1</a>" in content
    assert "Environment mismatch" in content


def test_it_filters_by_business_unit(client_as):
    unit = BusinessUnitFactory(slug="retail")
    MLModelFactory(name="Kept", team=TeamFactory(business_unit=unit))
    MLModelFactory(name="Hidden")
    response = client_as("reviewer").get(reverse("inventory:index"), {"business_unit": "retail"})
    assert [m.name for m in response.context["models"]] == ["Kept"]


def test_it_sorts_by_a_column_header_and_marks_it(client_as):
    for name in ("Alpha", "Beta"):
        MLModelFactory(name=name)
    response = client_as("executive").get(reverse("inventory:index"), {"sort": "-name"})
    assert [m.name for m in response.context["models"]] == ["Beta", "Alpha"]
    assert 'aria-sort="descending"' in response.content.decode()


def test_it_paginates_fifty_models_a_page(client_as):
    MLModelFactory.create_batch(55)
    response = client_as("executive").get(reverse("inventory:index"), {"page": 2})
    assert len(response.context["models"]) == 5 and "Page 2 of 2" in response.content.decode()


@pytest.mark.parametrize("page, shown, label", [("2", 5, "Page 2 of 2"), ("1", 50, "Page 1 of 2"),
                                                ("9", 5, "Page 2 of 2"), ("x", 50, "Page 1 of 2"),
                                                (str(10**30), 5, "Page 2 of 2")])
def test_a_search_finds_its_page_and_the_number_of_matches_in_one_scan(client_as, page, shown, label):
    MLModelFactory.create_batch(55, purpose="Scores churn risk.")
    MLModelFactory.create_batch(3, purpose="Detects fraud.")
    client = client_as("executive")
    params = {"q": "churn", "page": page}

    with CaptureQueriesContext(connection) as searched:
        response = client.get(reverse("inventory:index"), params)

    assert len(response.context["models"]) == shown and label in response.content.decode()
    assert response.context["page_obj"].paginator.count == 55
    expected = sorted(MLModel.objects.filter(purpose__icontains="churn").values_list("name", flat=True))
    start = (response.context["page_obj"].number - 1) * 50
    assert [m.name for m in response.context["models"]] == expected[start:start + 50]
    # The page's keys and the number of matches come from one scan, no separate count, unless the page asked
    # for is past the end (then it is counted, and the last page shown).
    counts = [q["sql"] for q in searched.captured_queries if '"__count" FROM "inventory_mlmodel"' in q["sql"]]
    assert len(counts) == (page not in ("1", "2", "x")), counts


def test_an_htmx_request_gets_only_the_results(client_as):
    MLModelFactory(name="Churn")
    client = client_as("executive")
    partial = client.get(reverse("inventory:index"), headers={"HX-Request": "true"})
    restore = client.get(reverse("inventory:index"),
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" not in partial.content.decode() and "Churn" in partial.content.decode()
    assert "<html" in restore.content.decode()
    assert "HX-Request" in partial["Vary"]


def test_the_empty_inventory_invites_writers_to_register_a_model(client_as):
    content = client_as("data_scientist").get(reverse("inventory:index")).content.decode()
    assert "Nothing here yet" in content and reverse("inventory:model-create") in content


def test_the_empty_inventory_has_no_register_link_for_readers(client_as):
    content = client_as("executive").get(reverse("inventory:index")).content.decode()
    assert "Nothing here yet" in content and reverse("inventory:model-create") not in content


def test_it_offers_to_clear_filters_when_nothing_matches(client_as):
    MLModelFactory(name="Churn")
    content = client_as("executive").get(reverse("inventory:index"), {"q": "nothing-like-it"}).content.decode()
    assert "No models match these filters" in content and "Nothing here yet" not in content


# --- CSV export -------------------------------------------------------------------------------

def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_export_honours_the_filters(client_as):
    DeploymentFactory(version__model__name="Mismatched", environment_mismatch=True)
    MLModelFactory(name="Fine")
    response = client_as("executive").get(reverse("inventory:export"), {"env_mismatch": "true"})
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [(r["name"], r["environment_mismatch"], r["active_deployments"]) for r in rows] == [
        ("Mismatched", "True", "1")]


def test_the_export_defuses_spreadsheet_formulas(client_as):
    MLModelFactory(name="=HYPERLINK(\"http://evil\")", purpose="+1+1", intended_use="x")
    MLModelFactory(name="@SUM(A1)", purpose="-2")
    rows = read_csv(client_as("executive").get(reverse("inventory:export")))
    assert sorted((r["name"], r["purpose"]) for r in rows) == [
        ("'=HYPERLINK(\"http://evil\")", "'+1+1"), ("'@SUM(A1)", "'-2")]


# --- Model detail -----------------------------------------------------------------------------

@pytest.mark.parametrize("versions", [1, 5])
def test_the_model_page_costs_a_constant_number_of_queries(client_as, django_assert_max_num_queries, versions):
    model = model_with_lineage(versions)
    client = client_as("executive")
    # 20: the use case the model was registered from (compliance's panel) is one of them.
    with django_assert_max_num_queries(20):
        response = client.get(reverse("inventory:model-detail", args=[model.slug]))
    assert response.status_code == 200 and len(response.context["versions"]) == versions


def test_the_model_page_shows_people_lineage_deployments_and_history(client_as):
    model = model_with_lineage(1)
    version = model.versions.get()
    step_output = version.training_datasets.get(kind=DataSet.Kind.DERIVED)
    step_input = step_output.produced_by_steps.get().inputs.first()
    content = client_as("reviewer").get(reverse("inventory:model-detail", args=[model.slug])).content.decode()
    assert "has left" in content
    assert step_output.get_absolute_url() in content and step_input.get_absolute_url() in content
    assert "scikit-learn: validated <code>1.6.1</code>, runs <code>1.3.2</code>" in content
    assert "tests pass" in content and "Retired" in content
    for section in ("risk", "reviews", "monitoring"):
        assert f'id="{section}"' in content
    assert 'class="history"' in content


def test_the_model_page_lists_versions_newest_first(client_as):
    model = MLModelFactory()
    for label in ("1.0", "2.0", "3.0"):
        ModelVersionFactory(model=model, version=label)
    response = client_as("executive").get(reverse("inventory:model-detail", args=[model.slug]))
    assert [v.version for v in response.context["versions"]] == ["3.0", "2.0", "1.0"]


def test_an_unknown_model_is_a_404(client_as):
    assert client_as("executive").get(reverse("inventory:model-detail", args=["nope"])).status_code == 404


def test_only_writers_see_the_edit_links(client_as):
    model = MLModelFactory()
    url = reverse("inventory:model-edit", args=[model.slug])
    scientist = client_as("data_scientist")
    model.team.members.add(scientist.user)
    assert url in scientist.get(model.get_absolute_url()).content.decode()
    assert url not in client_as("executive").get(model.get_absolute_url()).content.decode()


# --- Version detail and stage changes --------------------------------------------------------

@pytest.fixture
def version():
    return ModelVersionFactory(validation_metrics={"roc_auc": 0.91}, hyperparameters={"max_depth": 6},
                               artifact_sha256="a" * 64, training_datasets=[DataSetFactory(name="loans")])


def test_the_version_page_shows_training_metrics_and_environment(client_as, version):
    DeploymentFactory(version=version, environment_mismatch=True, mismatch_details=MISMATCH)
    content = client_as("executive").get(version.get_absolute_url()).content.decode()
    assert "roc_auc" in content and "0.91" in content and "max_depth" in content and "a" * 64 in content
    assert "loans@v1" in content and "3.11.7" in content and "Environment mismatch" in content


@pytest.mark.parametrize("deployments", [1, 8])
def test_the_version_page_costs_a_constant_number_of_queries(client_as, django_assert_max_num_queries, deployments):
    version = ModelVersionFactory(training_datasets=DataSetFactory.create_batch(deployments))
    DeploymentFactory.create_batch(deployments, version=version, business_process=BusinessProcessFactory())
    client = client_as("data_scientist")
    version.model.team.members.add(client.user)
    # The tenth: whether the user may change the model (its team or its owners), to offer the stage form; the
    # eleventh: what MLflow holds of the version (its registry links).
    with django_assert_max_num_queries(11):
        response = client.get(version.get_absolute_url())
    assert len(response.context["deployments"]) == deployments


def test_the_version_page_lists_active_deployments_first(client_as, version):
    now = timezone.now()
    retired = DeploymentFactory(version=version, deployed_at=now, retired_at=now)
    active = DeploymentFactory(version=version, deployed_at=now - timedelta(days=1))
    response = client_as("executive").get(version.get_absolute_url())
    assert response.context["deployments"] == [active, retired]


def test_readers_see_no_stage_form(client_as, version):
    assert "Move stage" not in client_as("executive").get(version.get_absolute_url()).content.decode()
    scientist = client_as("data_scientist")
    version.model.team.members.add(scientist.user)
    assert "Move stage" in scientist.get(version.get_absolute_url()).content.decode()


def test_a_writer_moves_a_version_to_another_stage(client_as, version):
    scientist = client_as("data_scientist")
    version.model.team.members.add(scientist.user)
    response = scientist.post(version.get_absolute_url(), {"stage": "validation", "reason": "metrics look fine"})
    assert response.status_code == 302 and response["Location"] == version.get_absolute_url()
    version.refresh_from_db()
    assert version.stage == "validation" and version.transitions.get().reason == "metrics look fine"


@pytest.mark.parametrize("role", READERS)
def test_readers_cannot_post_a_stage_change(client_as, version, role):
    response = client_as(role).post(version.get_absolute_url(), {"stage": "production"})
    version.refresh_from_db()
    assert response.status_code == 403 and version.stage == "development"


def test_a_refused_stage_change_is_shown_and_changes_nothing(client_as, version):
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.RETIRED)
    response = client_as("admin").post(version.get_absolute_url(), {"stage": "production"})
    assert response.status_code == 409 and "is retired" in response.content.decode()
    version.refresh_from_db()
    assert version.stage == Stage.RETIRED and not AuditEvent.objects.filter(action="version.stage_changed").exists()


@pytest.fixture
def gate_refuses(monkeypatch):
    monkeypatch.setattr(gates, "PRODUCTION_CHECKS", [lambda version: ["It needs a risk assessment."]])


def test_the_production_gate_refusal_lands_on_the_stage_field(client_as, version, gate_refuses):
    scientist = client_as("data_scientist")
    version.model.team.members.add(scientist.user)
    response = scientist.post(version.get_absolute_url(), {"stage": "production"})
    assert response.status_code == 409
    assert "It needs a risk assessment." in response.context["stage_form"].errors["stage"][0]
    version.refresh_from_db()
    assert version.stage == "development"


def test_an_admin_overrides_the_production_gate_with_a_reason(client_as, version, gate_refuses):
    response = client_as("admin").post(version.get_absolute_url(),
                                       {"stage": "production", "override_reason": "regulator deadline"})
    version.refresh_from_db()
    assert response.status_code == 302 and version.stage == "production"
    assert AuditEvent.objects.get(action="production_gate.overridden").reason == "regulator deadline"


def test_only_admins_are_offered_the_gate_override(client_as, version):
    assert "override_reason" in client_as("admin").get(version.get_absolute_url()).content.decode()
    scientist = client_as("data_scientist")
    version.model.team.members.add(scientist.user)
    assert "override_reason" not in scientist.get(version.get_absolute_url()).content.decode()


def test_a_gated_production_deployment_is_refused_for_a_scientist(client_as, version, gate_refuses):
    scientist = client_as("data_scientist")
    version.model.team.members.add(scientist.user)
    response = scientist.post(
        reverse("inventory:deployment-create", args=[version.model.slug, version.version]),
        {"environment": "production", "kind": "endpoint", "target": "x"})
    assert "It needs a risk assessment." in " ".join(response.context["form"].non_field_errors())
    assert "override_reason" not in response.context["form"].fields and not Deployment.objects.exists()


# --- Forms: access -----------------------------------------------------------------------------

def form_urls(member=None):
    version = ModelVersionFactory(model__team__members=[member] if member else [])
    slug = version.model.slug
    return [
        reverse("inventory:model-create"),
        reverse("inventory:model-edit", args=[slug]),
        reverse("inventory:version-create", args=[slug]),
        reverse("inventory:deployment-create", args=[slug, version.version]),
        reverse("inventory:dataset-create"),
        reverse("inventory:process-create"),
    ]


@pytest.mark.parametrize("role", READERS)
def test_readers_can_neither_open_nor_post_the_forms(client_as, role):
    client, urls = client_as(role), form_urls()
    counts = (MLModel.objects.count(), ModelVersion.objects.count(), AuditEvent.objects.count())
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "x", "version": "9.9"}).status_code == 403, url
    assert (MLModel.objects.count(), ModelVersion.objects.count(), AuditEvent.objects.count()) == counts


@pytest.mark.parametrize("role", ["data_scientist", "admin"])
def test_writers_open_every_form(client_as, role):
    client = client_as(role)
    for url in form_urls(member=client.user if role == "data_scientist" else None):
        assert client.get(url).status_code == 200, url


# --- Forms: model ----------------------------------------------------------------------------

@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def test_a_scientist_registers_a_model(client, scientist):
    client.force_login(scientist)
    team, process = TeamFactory(members=[scientist]), BusinessProcessFactory()
    response = client.post(reverse("inventory:model-create"), {
        "name": "Credit scoring", "purpose": "Score loans", "accountable_owner": scientist.pk,
        "technical_owners": [scientist.pk], "team": team.pk, "business_processes": [process.pk],
        "exposure": "customer_facing", "automation_level": "human_reviews", "task_type": "binary",
        "tags": "Credit, EU", "use_case": UseCaseFactory().pk,
    }, follow=True)
    model = MLModel.objects.get()
    assert response.redirect_chain[-1][0] == model.get_absolute_url()
    assert sorted(t.name for t in model.tags.all()) == ["credit", "eu"] and model.created_by == scientist
    assert "Credit scoring was registered." in response.content.decode()
    assert AuditEvent.objects.filter(action="model.registered", actor=scientist).exists()


def test_the_model_form_offers_only_active_owners(client_as):
    UserFactory(username="gone", is_active=False)
    form = client_as("data_scientist").get(reverse("inventory:model-create")).context["form"]
    assert "gone" not in [u.username for u in form.fields["accountable_owner"].queryset]


def test_a_scientist_edits_a_model_with_a_reason(client, scientist):
    client.force_login(scientist)
    model = MLModelFactory(name="Churn", accountable_owner=scientist)
    response = client.post(reverse("inventory:model-edit", args=[model.slug]), {
        "name": "Churn", "purpose": "New purpose", "accountable_owner": scientist.pk, "team": model.team.pk,
        "exposure": "public", "automation_level": "human_decides", "task_type": "binary", "tags": "",
        "reason": "now on the website",
    })
    model.refresh_from_db()
    assert response.status_code == 302 and (model.purpose, model.exposure) == ("New purpose", "public")
    assert AuditEvent.objects.get(action="model.updated").reason == "now on the website"


def test_the_edit_form_is_prefilled_with_tags(client_as):
    model = MLModelFactory()
    model.tags.set([Tag.objects.create(name="credit"), Tag.objects.create(name="eu")])
    form = client_as("admin").get(reverse("inventory:model-edit", args=[model.slug])).context["form"]
    assert form.initial["tags"] == "credit, eu"


# --- Forms: versions and deployments -----------------------------------------------------------

def version_data(**overrides):
    data = {"version": "2.0", "algorithm": "gbm", "framework": "lightgbm 4.5", "hyperparameters": '{"depth": 6}',
            "validation_metrics": '{"roc_auc": 0.9}', "validated_environment": "", "artifact_uri": "",
            "artifact_sha256": "", "description": ""}
    return {**data, **overrides}


def test_the_version_form_prefills_this_servers_environment(client_as):
    scientist = client_as("data_scientist")
    model = MLModelFactory(team__members=[scientist.user])
    form = scientist.get(reverse("inventory:version-create", args=[model.slug])).context["form"]
    assert form.initial["validated_environment"] == current_fingerprint()


def test_a_scientist_registers_a_version_with_training_data(client, scientist):
    client.force_login(scientist)
    model, dataset = MLModelFactory(team__members=[scientist]), DataSetFactory()
    env = '{"python": "3.12.1", "os": "Linux", "packages": {"numpy": "2.2.0"}}'
    response = client.post(reverse("inventory:version-create", args=[model.slug]),
                           version_data(training_datasets=[dataset.pk], validated_environment=env))
    version = ModelVersion.objects.get(model=model)
    assert response.status_code == 302 and response["Location"] == version.get_absolute_url()
    assert list(version.training_datasets.all()) == [dataset]
    assert version.hyperparameters == {"depth": 6} and version.validated_environment["python"] == "3.12.1"


def test_bad_json_is_reported_on_its_field_and_nothing_is_saved(client_as):
    scientist = client_as("data_scientist")
    model = MLModelFactory(team__members=[scientist.user])
    response = scientist.post(reverse("inventory:version-create", args=[model.slug]),
                                                version_data(hyperparameters="{depth: 6}"))
    assert response.status_code == 200
    assert response.context["form"].errors["hyperparameters"][0].startswith("Hyperparameters is not valid JSON")
    assert not ModelVersion.objects.exists()


def test_a_duplicate_version_is_a_form_error_and_nothing_is_saved(client_as):
    scientist = client_as("data_scientist")
    existing = ModelVersionFactory(version="2.0", model__team__members=[scientist.user])
    events = AuditEvent.objects.count()
    response = scientist.post(
        reverse("inventory:version-create", args=[existing.model.slug]), version_data())
    assert response.status_code == 200
    assert "already has a version '2.0'" in " ".join(response.context["form"].non_field_errors())
    assert ModelVersion.objects.count() == 1 and AuditEvent.objects.count() == events


def test_a_service_error_lands_on_the_field_it_names(client_as):
    scientist = client_as("data_scientist")
    model = MLModelFactory(team__members=[scientist.user])
    response = scientist.post(reverse("inventory:version-create", args=[model.slug]),
                                                version_data(artifact_sha256="not-a-hash"))
    assert "64 hexadecimal" in response.context["form"].errors["artifact_sha256"][0]
    assert not ModelVersion.objects.exists()


def test_a_deployment_with_a_different_environment_is_flagged(client, scientist):
    client.force_login(scientist)
    version = ModelVersionFactory(validated_environment=FINGERPRINT, model__team__members=[scientist])
    process = BusinessProcessFactory()
    runtime = '{"python": "3.11.9", "os": "Linux", "packages": {"scikit-learn": "1.3.2", "numpy": "2.2.1"}}'
    response = client.post(reverse("inventory:deployment-create", args=[version.model.slug, version.version]), {
        "environment": "staging", "kind": "batch", "target": "nightly-scoring", "business_process": process.pk,
        "runtime_environment": runtime,
    }, follow=True)
    deployment = Deployment.objects.get()
    assert response.redirect_chain[-1][0] == version.get_absolute_url()
    assert deployment.environment_mismatch and deployment.business_process == process
    assert "scikit-learn validated 1.6.1, runs 1.3.2" in response.content.decode()


def test_a_retired_version_cannot_be_deployed(client_as):
    version = ModelVersionFactory(stage=Stage.RETIRED)
    response = client_as("admin").post(reverse("inventory:deployment-create",
                                               args=[version.model.slug, version.version]),
                                       {"environment": "production", "kind": "endpoint", "target": "x"})
    assert "cannot be deployed" in " ".join(response.context["form"].non_field_errors())
    assert not Deployment.objects.exists()


# --- Forms: data sets and processes ---------------------------------------------------------------

def test_personal_data_without_a_legal_basis_is_refused_on_that_field(client_as):
    response = client_as("data_scientist").post(reverse("inventory:dataset-create"), {
        "name": "customers", "version": "2026-01", "kind": "raw", "contains_personal_data": "on",
        "legal_basis": "not_applicable", "schema": "",
    })
    assert "needs a legal basis" in response.context["form"].errors["legal_basis"][0]
    assert not DataSet.objects.exists() and not AuditEvent.objects.filter(action="dataset.created").exists()


def test_a_scientist_registers_a_data_set(client_as):
    response = client_as("data_scientist").post(reverse("inventory:dataset-create"), {
        "name": "customers", "version": "2026-01", "kind": "raw", "contains_personal_data": "on",
        "legal_basis": "contract", "schema": '[{"name": "age", "type": "int"}]',
        "collection_start": "2025-01-01", "collection_end": "2025-12-31",
    })
    dataset = DataSet.objects.get()
    assert response["Location"] == dataset.get_absolute_url() and dataset.schema == [{"name": "age", "type": "int"}]


def test_an_admin_adds_a_business_process(client_as):
    unit = BusinessUnitFactory()
    response = client_as("admin").post(reverse("inventory:process-create"), {
        "name": "Loan approval", "business_unit": unit.pk, "decision": "approve a loan",
        "decisions_per_day": "1200", "value_at_stake": "2500000",
    })
    process = BusinessProcess.objects.get()
    assert response["Location"] == process.get_absolute_url() and process.decisions_per_day == 1200


# --- Data set and process pages ----------------------------------------------------------------

def test_the_data_set_list_filters_and_counts_models(client_as):
    personal = DataSetFactory(name="customers", contains_personal_data=True, legal_basis="contract")
    DataSetFactory(name="weather")
    ModelVersionFactory(training_datasets=[personal])
    response = client_as("executive").get(reverse("inventory:dataset-list"), {"contains_personal_data": "true"})
    assert [(d.name, d.models_count) for d in response.context["datasets"]] == [("customers", 1)]
    assert "Contract" in response.content.decode()


def test_the_empty_data_set_list_says_so(client_as):
    assert "No data sets yet" in client_as("executive").get(reverse("inventory:dataset-list")).content.decode()


def test_the_data_set_page_shows_schema_upstream_and_downstream(client_as, django_assert_max_num_queries):
    raw = DataSetFactory(name="raw-loans")
    step = PipelineStepFactory(name="build-features", inputs=[raw])
    version = ModelVersionFactory(training_datasets=[step.output])
    client = client_as("executive")
    with django_assert_max_num_queries(10):
        upstream = client.get(step.output.get_absolute_url()).content.decode()
    downstream = client.get(raw.get_absolute_url()).content.decode()
    assert "build-features" in upstream and raw.get_absolute_url() in upstream
    assert version.get_absolute_url() in upstream and "income" in upstream
    assert step.output.get_absolute_url() in downstream


def test_the_process_list_shows_models_count_and_value(client_as):
    process = BusinessProcessFactory(name="Loan approval", value_at_stake=2_500_000)
    MLModelFactory.create_batch(2, business_processes=[process])
    response = client_as("executive").get(reverse("inventory:process-list"))
    assert [p.models_count for p in response.context["processes"]] == [2]
    assert "2,500,000" in response.content.decode()


def test_the_process_list_filters_by_unit(client_as):
    unit = BusinessUnitFactory(slug="retail")
    BusinessProcessFactory(name="Kept", business_unit=unit)
    BusinessProcessFactory(name="Other")
    response = client_as("executive").get(reverse("inventory:process-list"), {"business_unit": "retail"})
    assert [p.name for p in response.context["processes"]] == ["Kept"]


@pytest.mark.parametrize("count", [1, 8])
def test_the_process_page_costs_a_constant_number_of_queries(client_as, django_assert_max_num_queries, count):
    process = BusinessProcessFactory()
    for _ in range(count):
        DeploymentFactory(version__model=MLModelFactory(business_processes=[process]), business_process=process)
    client = client_as("executive")
    with django_assert_max_num_queries(11):  # + its money at risk, from the tallies
        response = client.get(process.get_absolute_url())
    assert len(response.context["rows"]) == count


def test_the_process_page_shows_models_and_the_deployments_serving_it(client_as):
    process = BusinessProcessFactory()
    model = MLModelFactory(name="Scorer", business_processes=[process])
    DeploymentFactory(version__model=model, business_process=process, target="scoring-endpoint",
                      environment_mismatch=True, mismatch_details=MISMATCH)
    content = client_as("executive").get(process.get_absolute_url()).content.decode()
    assert "Scorer" in content and "scoring-endpoint" in content and "Environment mismatch" in content


@pytest.mark.django_db
def test_yes_no_filters_offer_any_yes_or_no_and_any_filters_nothing_out(client_as):
    DeploymentFactory(version__model__name="Bad", environment_mismatch=True)
    MLModelFactory(name="Orphan", accountable_owner=UserFactory(is_active=False))
    client = client_as("executive")

    page = client.get(reverse("inventory:index")).content.decode()
    every = client.get(reverse("inventory:index"), {"env_mismatch": "unknown", "owner_left": "unknown"})

    assert '<option value="unknown" selected>Any</option>' in page and ">Unknown<" not in page
    assert {m.name for m in every.context["page_obj"]} == {"Bad", "Orphan"}

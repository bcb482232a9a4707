import pytest

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.inventory import services
from apps.inventory.models import DataSet, Stage, StageTransition
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    DataSetFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def test_a_data_scientist_registers_a_model_and_it_is_audited(scientist, make_user):
    owner, team, process = make_user("executive"), TeamFactory(members=[scientist]), BusinessProcessFactory()
    model = services.model_register(actor=scientist, name="Credit scoring", purpose="Score loan applications",
                                    accountable_owner=owner, team=team, business_processes=[process],
                                    tags=["Credit", "EU"], exposure="customer_facing", use_case=UseCaseFactory().pk)
    assert model.slug == "credit-scoring" and list(model.business_processes.all()) == [process]
    assert sorted(t.name for t in model.tags.all()) == ["credit", "eu"]
    event = AuditEvent.objects.get(action="model.registered")
    assert event.actor_username == "sam" and event.changes["exposure"] == [None, "customer_facing"]


def test_the_audit_trail_records_the_tags_as_stored(scientist, make_user):
    model = services.model_register(actor=scientist, name="Churn", purpose="Predict churn",
                                    accountable_owner=make_user("executive"), team=TeamFactory(members=[scientist]),
                                    tags=["Fraud", "fraud", "--", "x" * 60], use_case=UseCaseFactory().pk)

    stored = sorted(t.name for t in model.tags.all())
    assert stored == ["fraud", "x" * 50]
    assert AuditEvent.objects.get(action="model.registered").changes["tags"] == [None, stored]


@pytest.mark.parametrize("role", ["executive", "reviewer"])
def test_roles_that_only_read_cannot_register_models(make_user, role):
    with pytest.raises(PermissionDeniedError):
        services.model_register(actor=make_user(role), name="x", purpose="y",
                                accountable_owner=make_user(), team=TeamFactory())


def test_an_inactive_accountable_owner_is_refused(scientist, make_user):
    with pytest.raises(DomainError, match="has left"):
        services.model_register(actor=scientist, name="x", purpose="y",
                                accountable_owner=make_user(is_active=False), team=TeamFactory(members=[scientist]),
                                use_case=UseCaseFactory().pk)


def test_duplicate_names_get_distinct_slugs(scientist, make_user):
    owner, team = make_user(), TeamFactory(members=[scientist])
    first, second = (services.model_register(actor=scientist, name="Churn", purpose="p", accountable_owner=owner,
                                             team=team, use_case=UseCaseFactory().pk) for _ in range(2))
    assert (first.slug, second.slug) == ("churn", "churn-2")


def test_model_update_records_only_what_changed(scientist):
    model = MLModelFactory(team__members=[scientist])
    services.model_update(actor=scientist, model=model, exposure="public", purpose=model.purpose, tags=["x"])
    event = AuditEvent.objects.get(action="model.updated")
    assert event.changes == {"exposure": ["internal", "public"], "tags": [[], ["x"]]}


def test_model_update_refuses_fields_that_are_not_editable(scientist):
    with pytest.raises(DomainError, match="cannot be changed here: stage"):
        services.model_update(actor=scientist, model=MLModelFactory(team__members=[scientist]), stage="production")


def test_a_version_records_its_training_data_and_first_stage(scientist):
    model, data = MLModelFactory(team__members=[scientist]), DataSetFactory()
    version = services.version_create(actor=scientist, model=model, version="1.0.0", training_datasets=[data],
                                      validated_environment=FINGERPRINT, artifact_sha256="ab" * 32)
    assert list(version.training_datasets.all()) == [data]
    assert list(StageTransition.objects.values_list("to_stage", flat=True)) == ["development"]


def test_a_duplicate_version_label_is_a_conflict(scientist):
    version = ModelVersionFactory(model__team__members=[scientist])
    with pytest.raises(ConflictError, match="already has a version"):
        services.version_create(actor=scientist, model=version.model, version=version.version)


def test_a_malformed_artifact_hash_is_refused(scientist):
    with pytest.raises(DomainError, match="64 hexadecimal"):
        services.version_create(actor=scientist, model=MLModelFactory(team__members=[scientist]), version="1",
                                artifact_sha256="xyz")


def test_stage_transitions_keep_history_and_move_the_models_stage(scientist):
    version = ModelVersionFactory(model__team__members=[scientist])
    services.version_transition(actor=scientist, version=version, to_stage="validation", reason="metrics ok")
    services.version_transition(actor=scientist, version=version, to_stage="staging")
    version.model.refresh_from_db()
    assert version.model.stage == Stage.STAGING
    assert list(version.transitions.values_list("from_stage", "to_stage")) == [
        ("development", "validation"), ("validation", "staging")]


def test_a_retired_version_cannot_move_again(scientist):
    version = ModelVersionFactory(model__team__members=[scientist], stage=Stage.RETIRED)
    with pytest.raises(ConflictError, match="retired"):
        services.version_transition(actor=scientist, version=version, to_stage="production")


def test_a_model_is_retired_when_all_its_versions_are(scientist):
    version = ModelVersionFactory(model__team__members=[scientist], stage=Stage.PRODUCTION)
    services.version_transition(actor=scientist, version=version, to_stage="retired")
    version.model.refresh_from_db()
    assert version.model.stage == Stage.RETIRED


def test_a_deployment_with_a_different_runtime_is_flagged(scientist):
    version = ModelVersionFactory(model__team__members=[scientist])
    runtime = {**FINGERPRINT, "python": "3.12.2", "packages": {"scikit-learn": "1.4.0", "numpy": "2.2.1"}}
    deployment = services.deployment_create(actor=scientist, version=version, environment="staging",
                                            target="batch-scoring", runtime_environment=runtime)
    assert deployment.environment_mismatch
    assert {d["component"] for d in deployment.mismatch_details} == {"Python", "scikit-learn"}
    fixed = services.deployment_update_runtime(actor=scientist, deployment=deployment,
                                               runtime_environment=FINGERPRINT)
    assert not fixed.environment_mismatch and fixed.mismatch_details == []


def test_a_deployment_can_only_be_retired_once(scientist):
    version = ModelVersionFactory(model__team__members=[scientist])
    deployment = services.deployment_create(actor=scientist, version=version, environment="staging", target="t")
    services.deployment_retire(actor=scientist, deployment=deployment, reason="replaced")
    with pytest.raises(ConflictError, match="already retired"):
        services.deployment_retire(actor=scientist, deployment=deployment)


def test_personal_data_needs_a_legal_basis(scientist):
    with pytest.raises(DomainError, match="legal basis"):
        services.dataset_create(actor=scientist, name="customers", version="2026-01", contains_personal_data=True)
    dataset = services.dataset_create(actor=scientist, name="customers", version="2026-01",
                                      contains_personal_data=True, legal_basis="contract")
    with pytest.raises(DomainError, match="legal basis"):
        services.dataset_update(actor=scientist, dataset=dataset, legal_basis="not_applicable")
    dataset.refresh_from_db()
    assert dataset.legal_basis == "contract"


def test_a_pipeline_step_derives_its_output(scientist):
    raw, out = DataSetFactory(), DataSetFactory()
    step = services.pipeline_step_create(actor=scientist, name="features", inputs=[raw], output=out)
    out.refresh_from_db()
    assert out.kind == DataSet.Kind.DERIVED and list(step.inputs.all()) == [raw]
    with pytest.raises(DomainError, match="own inputs"):
        services.pipeline_step_create(actor=scientist, name="loop", inputs=[raw], output=raw)


@pytest.mark.parametrize("label", ["new", "1/2", "", "1 0"])
def test_version_labels_that_would_break_urls_are_refused(scientist, label):
    with pytest.raises(DomainError, match="version label"):
        services.version_create(actor=scientist, model=MLModelFactory(team__members=[scientist]), version=label)


def test_a_model_called_new_does_not_hide_behind_the_form_url(scientist, make_user):
    model = services.model_register(actor=scientist, name="New", purpose="p", accountable_owner=make_user(),
                                    team=TeamFactory(members=[scientist]), use_case=UseCaseFactory().pk)
    assert model.slug == "new-2"


def test_changing_the_validated_environment_rechecks_active_deployments(scientist):
    version = ModelVersionFactory(model__team__members=[scientist])
    deployment = services.deployment_create(actor=scientist, version=version, environment="staging", target="t",
                                            runtime_environment=FINGERPRINT)
    assert not deployment.environment_mismatch
    services.version_update(actor=scientist, version=version,
                            validated_environment={**FINGERPRINT, "python": "3.12.1"})
    deployment.refresh_from_db()
    assert deployment.environment_mismatch and deployment.mismatch_details[0]["component"] == "Python"

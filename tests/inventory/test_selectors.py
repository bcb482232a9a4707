from datetime import timedelta

import pytest
from django.utils import timezone

from apps.inventory import selectors
from apps.inventory.models import Tag
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
)

pytestmark = pytest.mark.django_db


def names(filterset):
    return [m.name for m in filterset.qs]


def test_it_annotates_latest_version_active_deployments_and_mismatch():
    model = MLModelFactory(name="Churn")
    old = ModelVersionFactory(model=model, version="1.0")
    new = ModelVersionFactory(model=model, version="2.0")
    old.created_at = timezone.now() - timedelta(days=3)
    old.save(update_fields=["created_at"])
    DeploymentFactory(version=old, environment_mismatch=True, retired_at=timezone.now())
    DeploymentFactory(version=new)
    DeploymentFactory(version=new)
    row = selectors.models_for_list({}).qs.get()
    assert (row.latest_version, row.active_deployments, row.env_mismatch) == ("2.0", 2, False)


def test_it_flags_a_mismatch_only_on_active_deployments():
    version = ModelVersionFactory()
    DeploymentFactory(version=version, environment_mismatch=True)
    assert selectors.models_for_list({}).qs.get().env_mismatch is True


def test_it_counts_deployments_without_inflation_from_filter_joins():
    model = MLModelFactory()
    model.tags.set([Tag.objects.create(name="credit"), Tag.objects.create(name="eu")])
    model.technical_owners.set(UserFactory.create_batch(2))
    version = ModelVersionFactory(model=model)
    DeploymentFactory.create_batch(3, version=version)
    owner = model.technical_owners.first().username
    rows = list(selectors.models_for_list({"owner": owner, "q": "credit"}).qs)
    assert [r.active_deployments for r in rows] == [3]


def test_a_model_without_versions_has_no_latest_version_and_zero_deployments():
    MLModelFactory()
    row = selectors.models_for_list({}).qs.get()
    assert (row.latest_version, row.active_deployments, row.env_mismatch) == (None, 0, False)


def test_it_filters_by_mismatch_and_owner_left():
    DeploymentFactory(version__model__name="Bad", environment_mismatch=True)
    DeploymentFactory(version__model__name="Good")
    MLModelFactory(name="Orphan", accountable_owner=UserFactory(is_active=False))
    assert names(selectors.models_for_list({"env_mismatch": "true"})) == ["Bad"]
    assert names(selectors.models_for_list({"owner_left": "true"})) == ["Orphan"]


def test_it_sorts_by_the_sort_parameter():
    for name in ("Beta", "Alpha", "Gamma"):
        MLModelFactory(name=name)
    assert names(selectors.models_for_list({})) == ["Alpha", "Beta", "Gamma"]
    assert names(selectors.models_for_list({"sort": "-name"})) == ["Gamma", "Beta", "Alpha"]


def test_model_deployments_lists_active_ones_first_then_newest():
    version = ModelVersionFactory()
    now = timezone.now()
    retired = DeploymentFactory(version=version, deployed_at=now, retired_at=now)
    older = DeploymentFactory(version=version, deployed_at=now - timedelta(days=5))
    newer = DeploymentFactory(version=version, deployed_at=now - timedelta(days=1))
    model = selectors.model_detail(slug=version.model.slug)
    assert selectors.model_deployments(model) == [newer, older, retired]


def test_datasets_count_the_models_trained_on_them_and_sort_by_it():
    DataSetFactory(name="a-unused")
    popular = DataSetFactory(name="z-popular")
    for _ in range(2):
        ModelVersionFactory(training_datasets=[popular])
    rows = list(selectors.datasets_for_list({"sort": "-models"}).qs)
    assert [(d.name, d.models_count) for d in rows] == [("z-popular", 2), ("a-unused", 0)]


def test_dataset_detail_loads_upstream_and_downstream():
    raw = DataSetFactory(name="raw")
    step = PipelineStepFactory(inputs=[raw])
    version = ModelVersionFactory(training_datasets=[step.output])
    derived = selectors.dataset_detail(slug=step.output.slug)
    assert [list(s.inputs.all()) for s in derived.produced_by_steps.all()] == [[raw]]
    assert list(derived.trained_versions.all()) == [version]
    assert [s.output for s in selectors.dataset_detail(slug=raw.slug).consumed_by_steps.all()] == [step.output]


def test_process_models_include_models_that_only_deploy_to_it():
    process = BusinessProcessFactory()
    linked = MLModelFactory(name="Linked", business_processes=[process])
    serving = DeploymentFactory(version__model__name="Serving only", business_process=process)
    DeploymentFactory(version__model=linked, business_process=process, retired_at=timezone.now())
    rows = selectors.with_serving_deployments(selectors.process_models(process), process)
    assert [(r["model"].name, r["deployments"]) for r in rows] == [("Linked", []), ("Serving only", [serving])]


def test_process_models_list_a_model_named_and_serving_once():
    process = BusinessProcessFactory()
    model = MLModelFactory(name="Both", business_processes=[process])
    serving = DeploymentFactory(version__model=model, business_process=process)
    rows = selectors.with_serving_deployments(selectors.process_models(process), process)
    assert [(r["model"].name, r["deployments"]) for r in rows] == [("Both", [serving])]


def test_processes_count_their_models():
    process = BusinessProcessFactory()
    MLModelFactory.create_batch(2, business_processes=[process])
    assert selectors.processes_for_list({}).qs.get().models_count == 2

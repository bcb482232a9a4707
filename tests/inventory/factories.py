"""Factories for inventory objects. They write rows directly (fast); tests of behaviour call services.

Models, versions and deployments end with their stored governance state computed, as a service leaves them
(``governance=False`` skips it, for a test of what happens before the first computation)."""

import factory
from django.utils import timezone

from apps.inventory import environment
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Team,
)
from apps.inventory.signals import governance_changed
from tests.factories import UserFactory

FINGERPRINT = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1", "numpy": "2.2.0"}}


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessUnit

    name = factory.Sequence(lambda n: f"Unit {n}")
    slug = factory.Sequence(lambda n: f"unit-{n}")


class TeamFactory(factory.django.DjangoModelFactory):
    """``TeamFactory(members=[user])``, or ``MLModelFactory(team__members=[user])`` for a model ``user``'s
    team owns: only its members (with the model's owners and admins) change a model."""

    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    business_unit = factory.SubFactory(BusinessUnitFactory)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.add(*extracted)


class BusinessProcessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessProcess

    name = factory.Sequence(lambda n: f"Process {n}")
    slug = factory.Sequence(lambda n: f"process-{n}")
    business_unit = factory.SubFactory(BusinessUnitFactory)
    decision = "approve or decline"
    decisions_per_day = 1000
    value_at_stake = 1_000_000


class DataSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSet

    name = factory.Sequence(lambda n: f"dataset-{n}")
    slug = factory.Sequence(lambda n: f"dataset-{n}-v1")
    version = "v1"
    source_system = "warehouse"
    schema = factory.LazyFunction(lambda: [{"name": "age", "type": "int"}, {"name": "income", "type": "float"}])


class PipelineStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelineStep
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"step-{n}")
    slug = factory.Sequence(lambda n: f"step-{n}")
    output = factory.SubFactory(DataSetFactory, kind=DataSet.Kind.DERIVED)

    @factory.post_generation
    def inputs(self, create, extracted, **kwargs):
        if create:
            self.inputs.set(extracted or [DataSetFactory()])


def _refresh(model_id, create: bool, wanted) -> None:
    if create and wanted is not False:
        governance_changed(model_ids=[model_id], cause="test factory")


class MLModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MLModel
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Model {n}")
    slug = factory.Sequence(lambda n: f"model-{n}")
    purpose = "Predict something useful."
    accountable_owner = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)

    @factory.post_generation
    def business_processes(self, create, extracted, **kwargs):
        if create and extracted:
            self.business_processes.set(extracted)

    @factory.post_generation
    def governance(self, create, extracted, **kwargs):
        _refresh(self.pk, create, extracted)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion
        skip_postgeneration_save = True

    model = factory.SubFactory(MLModelFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    algorithm = "logistic regression"
    framework = "scikit-learn 1.6.1"
    validated_environment = factory.LazyFunction(lambda: dict(FINGERPRINT))

    @factory.post_generation
    def training_datasets(self, create, extracted, **kwargs):
        if create and extracted:
            self.training_datasets.set(extracted)

    @factory.post_generation
    def governance(self, create, extracted, **kwargs):
        _refresh(self.model_id, create, extracted)


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment
        skip_postgeneration_save = True

    version = factory.SubFactory(ModelVersionFactory)
    environment = Deployment.Environment.PRODUCTION
    target = factory.Sequence(lambda n: f"https://models.internal/endpoint-{n}")
    runtime_environment = factory.LazyFunction(lambda: dict(FINGERPRINT))
    deployed_at = factory.LazyFunction(timezone.now)
    # As the services store them, unless a test sets them itself.
    mismatch_details = factory.LazyAttribute(lambda d: [
        diff.as_dict() for diff in environment.differences(d.version.validated_environment, d.runtime_environment)])
    environment_mismatch = factory.LazyAttribute(lambda d: bool(d.mismatch_details))

    @factory.post_generation
    def governance(self, create, extracted, **kwargs):
        _refresh(self.version.model_id, create, extracted)

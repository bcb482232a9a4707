from datetime import timedelta

import factory
from django.utils import timezone

from apps.findings.models import Finding, Incident
from tests.factories import UserFactory
from tests.inventory.factories import MLModelFactory, ModelVersionFactory


class FindingFactory(factory.django.DjangoModelFactory):
    """A finding written directly, as test data (the services' own tests go through ``finding_raise``)."""

    class Meta:
        model = Finding

    version = factory.SubFactory(ModelVersionFactory)
    title = factory.Sequence(lambda n: f"Finding {n}")
    description = "Calibration is off for applicants over 70."
    severity = "medium"
    owner = factory.SubFactory(UserFactory)
    due_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    model = factory.SubFactory(MLModelFactory)
    title = factory.Sequence(lambda n: f"Incident {n}")
    description = "Scores were returned as zero for an hour."
    impact = "About 300 applicants were refused in error."
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    aware_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=20))

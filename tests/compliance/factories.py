import factory

from apps.compliance.models import Classification
from tests.inventory.factories import MLModelFactory


class ClassificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Classification

    model = factory.SubFactory(MLModelFactory)
    eu_category = "high_risk"
    annex_iii_area = "essential_services"
    role = "provider"
    rationale = "Scores the creditworthiness of natural persons."

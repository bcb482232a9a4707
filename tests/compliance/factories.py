import hashlib

import factory
from django.utils import timezone

from apps.compliance.models import Classification, GeneratedDocument
from tests.inventory.factories import MLModelFactory, ModelVersionFactory


class ClassificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Classification

    model = factory.SubFactory(MLModelFactory)
    eu_category = "high_risk"
    annex_iii_area = "essential_services"
    role = "provider"
    rationale = "Scores the creditworthiness of natural persons."


class GeneratedDocumentFactory(factory.django.DjangoModelFactory):
    """A stored document with small stand-in files (the generation itself is tested in test_documents.py)."""

    class Meta:
        model = GeneratedDocument

    version = factory.SubFactory(ModelVersionFactory)
    kind = "annex_iv"
    number = factory.Sequence(lambda n: n + 1)
    generated_at = factory.LazyFunction(timezone.now)
    html = factory.django.FileField(filename="annex_iv.html", data=b"<!doctype html><title>Annex IV</title>")
    pdf = factory.django.FileField(filename="annex_iv.pdf", data=b"%PDF-1.7 stand-in")
    html_sha256 = factory.LazyAttribute(lambda d: hashlib.sha256(b"<!doctype html><title>Annex IV</title>").hexdigest())
    pdf_sha256 = factory.LazyAttribute(lambda d: hashlib.sha256(b"%PDF-1.7 stand-in").hexdigest())
    pages = 1

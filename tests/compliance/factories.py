import hashlib

import factory
from django.utils import timezone

from apps.compliance.models import Classification, GeneratedDocument, UseCase
from tests.factories import UserFactory
from tests.inventory.factories import BusinessProcessFactory, MLModelFactory, ModelVersionFactory


class ClassificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Classification

    model = factory.SubFactory(MLModelFactory)
    eu_category = "high_risk"
    annex_iii_area = "essential_services"
    role = "provider"
    rationale = "Scores the creditworthiness of natural persons."


class UseCaseFactory(factory.django.DjangoModelFactory):
    """A proposal, by default approved and waiting for its model (what registering a model needs).

    ``UseCaseFactory(state="draft")`` for one still being written. The preliminary tier is set, not computed:
    tests of the computation call ``services_intake.use_case_propose``."""

    class Meta:
        model = UseCase

    title = factory.Sequence(lambda n: f"Use case {n}")
    purpose = "Score the creditworthiness of loan applicants."
    intended_use = "Credit officers decide loan applications with the score."
    business_owner = factory.SubFactory(UserFactory)
    business_process = factory.SubFactory(BusinessProcessFactory)
    eu_category = "high_risk"
    annex_iii_area = "essential_services"
    role = "provider"
    rationale = "Credit scoring of natural persons is Annex III (5)."
    exposure = "customer_facing"
    automation_level = "human_reviews"
    screening_probability = 3
    screening_impact = 4
    preliminary_tier = "high"
    tier_derivation = factory.LazyFunction(lambda: ["Preliminary tier: high."])
    state = UseCase.State.APPROVED
    proposed_by = factory.SubFactory(UserFactory)
    decided_by = factory.LazyAttribute(lambda o: UserFactory() if o.state in ("approved", "declined") else None)
    decided_at = factory.LazyAttribute(lambda o: timezone.now() if o.state in ("approved", "declined") else None)
    submitted_at = factory.LazyAttribute(lambda o: None if o.state == "draft" else timezone.now())
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

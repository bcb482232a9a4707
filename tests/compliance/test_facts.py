"""The facts gathered from the portal's records: each evidence kind reads what it claims to read."""

import pytest

from apps.compliance import evaluation as ev
from apps.compliance import selectors, services
from apps.inventory.models import LegalBasis
from apps.monitoring.models import Evaluation
from tests.factories import UserFactory
from tests.inventory.factories import DataSetFactory, MLModelFactory, ModelVersionFactory
from tests.reviews.helpers import assessed_version

pytestmark = pytest.mark.django_db


def facts_of(model) -> ev.Facts:
    model = selectors.models_for_compliance().get(pk=model.pk)
    return selectors.gather_facts([model])[model.pk]


def test_the_current_assessment_is_read_with_its_ratings_and_rationale():
    version = assessed_version()
    facts = facts_of(version.model)
    assert facts.assessed_at is not None and facts.risks_rated == 4 and facts.tier
    assert not facts.assessment_rationale  # the helper submits no overall rationale
    assert ev.JUDGES["risk_assessment"](facts).status == ev.PARTIAL


def test_personal_training_data_without_a_legal_basis_is_counted_once_per_model():
    personal = DataSetFactory(contains_personal_data=True, legal_basis=LegalBasis.NOT_APPLICABLE)
    lawful = DataSetFactory(contains_personal_data=True, legal_basis=LegalBasis.CONTRACT)
    model = MLModelFactory()
    ModelVersionFactory(model=model, training_datasets=[personal, lawful])
    ModelVersionFactory(model=model, training_datasets=[personal])
    ModelVersionFactory(model=model)
    facts = facts_of(model)
    assert (facts.versions, facts.versions_with_lineage, facts.personal_data_without_basis) == (3, 2, 1)


def test_a_retired_version_is_not_counted():
    model = MLModelFactory()
    ModelVersionFactory(model=model, stage="retired")
    ModelVersionFactory(model=model, training_datasets=[DataSetFactory()])
    assert (facts_of(model).versions, facts_of(model).versions_with_lineage) == (1, 1)


def test_the_stored_governance_reasons_are_read_not_recomputed():
    model = MLModelFactory()
    ModelVersionFactory(model=model, stage="production")
    facts = facts_of(model)
    # Just promoted: the stored state says its first evidence is due (within the cadence's grace).
    assert facts.in_production and "monitoring_due" in facts.reason_codes
    assert ev.JUDGES["monitoring"](facts).status == ev.PARTIAL


def test_the_audit_trail_of_the_model_is_counted_and_dated():
    model = MLModelFactory()
    before = facts_of(model).audit_events
    services.classification_save(actor=UserFactory(roles=["admin"]), model=model, eu_category="minimal",
                                 annex_iii_area="none", role="deployer")
    facts = facts_of(model)
    assert facts.audit_events == before + 1 and facts.audited_at is not None
    assert facts.classification == ev.Classification("minimal", "none", "deployer", facts.classification.classified_at)


def test_an_evaluation_naming_a_sensitive_attribute_is_fairness_evidence():
    version = ModelVersionFactory()
    common = {"version": version, "filename": "e.csv", "file_format": "csv", "sha256": "0" * 64, "size_bytes": 1,
              "raw_path": "x", "parquet_path": "x", "status": Evaluation.Status.DONE}
    Evaluation.objects.create(**common, columns={"sensitive_features": []})
    assert facts_of(version.model).fairness_evaluated_at is None
    Evaluation.objects.create(**common, columns={"sensitive_features": ["sex"]})
    assert facts_of(version.model).fairness_evaluated_at is None  # not finished: no date to show
    Evaluation.objects.filter(columns__sensitive_features__0__isnull=False).update(finished_at=version.created_at)
    assert facts_of(version.model).fairness_evaluated_at == version.created_at


def test_documentation_names_the_empty_fields():
    model = MLModelFactory(intended_use="Scores applicants.", out_of_scope_uses="")
    assert facts_of(model).missing_documentation == ("out-of-scope uses",)

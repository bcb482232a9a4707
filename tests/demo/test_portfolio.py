"""The inventory demo portfolio: big and varied enough to demo, real numbers, safe to run twice."""

import io
import time
from dataclasses import dataclass

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from apps.core.models import AuditEvent
from apps.core.services import audit_verify
from apps.governance import figures
from apps.governance.services import governance_verify
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Stage,
    StageTransition,
)


@dataclass(frozen=True)
class SeedRun:
    output: str
    cpu_seconds: float


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the whole module, inside a transaction rolled back at the end (each test adds a savepoint)."""
    with (
        django_db_blocker.unblock(),
        override_settings(DEBUG=True, PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        transaction.atomic(),
    ):
        out = io.StringIO()
        # This process's CPU time, not the wall clock: on a busy machine (workers, the database server) a guard on
        # wall time failed while the seed itself did no more work.
        started = time.process_time()
        call_command("seed_demo", stdout=out)
        yield SeedRun(output=out.getvalue(), cpu_seconds=time.process_time() - started)
        transaction.set_rollback(True)


@pytest.fixture
def portfolio(seeded, db):
    return seeded


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (
        get_user_model(), BusinessUnit, BusinessProcess, DataSet, PipelineStep, MLModel, ModelVersion,
        StageTransition, Deployment, AuditEvent,
    )}


def test_it_fills_at_least_40_models_across_at_least_5_business_units(portfolio):
    assert MLModel.objects.count() >= 40
    assert BusinessUnit.objects.filter(teams__models__isnull=False).distinct().count() >= 5
    assert "Inventory: " in portfolio.output


def test_it_represents_every_lifecycle_stage(portfolio):
    assert set(MLModel.objects.values_list("stage", flat=True)) == set(Stage.values)


def test_every_model_has_one_to_four_versions_each_with_a_stage_history(portfolio):
    for model in MLModel.objects.prefetch_related("versions__transitions"):
        assert 1 <= len(model.versions.all()) <= 4, model
        for version in model.versions.all():
            history = [t.to_stage for t in version.transitions.all()]
            assert history[0] == Stage.DEVELOPMENT and history[-1] == version.stage, version


def test_production_versions_are_deployed_and_retired_ones_no_longer_are(portfolio):
    active = Deployment.objects.filter(retired_at__isnull=True)
    live = ModelVersion.objects.filter(stage=Stage.PRODUCTION)
    assert live.exists()
    assert set(live) == {d.version for d in active.filter(environment="production").select_related("version")}
    assert not active.filter(version__stage=Stage.RETIRED).exists()
    assert Deployment.objects.filter(version__stage=Stage.RETIRED, retired_at__isnull=False).exists()


def test_it_runs_a_production_deployment_outside_its_validated_environment(portfolio):
    mismatched = Deployment.objects.filter(environment="production", retired_at__isnull=True,
                                           environment_mismatch=True)
    assert mismatched.exists()
    components = {d["component"] for deployment in mismatched for d in deployment.mismatch_details}
    assert {"Python", "scikit-learn"} <= components


def test_it_keeps_models_whose_accountable_owner_has_left(portfolio):
    inactive = get_user_model().objects.filter(is_active=False)
    assert list(inactive.values_list("username", flat=True)) == ["departed"]
    orphaned = MLModel.objects.filter(accountable_owner__is_active=False)
    assert orphaned.filter(stage=Stage.PRODUCTION).exists()


def test_it_records_a_lineage_chain_from_raw_data_to_a_business_process(portfolio):
    chain = Deployment.objects.filter(
        environment="production", retired_at__isnull=True, business_process__isnull=False,
        version__training_datasets__kind=DataSet.Kind.DERIVED,
        version__training_datasets__produced_by_steps__inputs__kind=DataSet.Kind.RAW,
    )
    assert chain.exists()


def test_personal_data_sets_carry_a_legal_basis_and_a_synthetic_sensitive_attribute(portfolio):
    personal = DataSet.objects.filter(contains_personal_data=True)
    assert personal.exists() and not personal.filter(legal_basis="not_applicable").exists()
    sensitive = [c for d in personal for c in d.schema if c.get("sensitive") and c.get("synthetic")]
    assert sensitive and all(sum(c["values"].values()) > 0 for c in sensitive)


def test_processes_name_a_decision_its_volume_value_and_mostly_an_executive(portfolio):
    processes = BusinessProcess.objects.all()
    assert all(p.decision and p.decisions_per_day and p.value_at_stake for p in processes)
    assert processes.filter(accountable_executive__username="executive").count() >= len(processes) - 1


def _split(loader, stratify):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=42, stratify=y if stratify else None)


def test_binary_metrics_are_real(portfolio):
    version = ModelVersion.objects.get(model__slug="retail-credit-scoring", stage=Stage.PRODUCTION)
    assert version.algorithm == "Gradient boosted trees"
    X_train, X_test, y_train, y_test = _split(load_breast_cancer, stratify=True)
    model = GradientBoostingClassifier(**version.hyperparameters).fit(X_train, y_train)
    expected = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    assert abs(version.validation_metrics["roc_auc"] - expected) < 1e-9


def test_regression_metrics_are_real(portfolio):
    version = ModelVersion.objects.get(model__slug="diabetes-progression-forecast", version="1.0.0")
    X_train, X_test, y_train, y_test = _split(load_diabetes, stratify=False)
    model = make_pipeline(StandardScaler(), Ridge(**version.hyperparameters)).fit(X_train, y_train)
    assert abs(version.validation_metrics["r2"] - r2_score(y_test, model.predict(X_test))) < 1e-9


def test_versions_of_a_model_differ_in_their_metrics(portfolio):
    metrics = [v.validation_metrics["roc_auc"] for v in
               ModelVersion.objects.filter(model__slug="retail-credit-scoring")]
    assert len(metrics) == 4 and len(set(metrics)) == 4
    assert all(np.isfinite(metrics))


def test_the_first_run_takes_under_a_minute(portfolio):
    assert portfolio.cpu_seconds < 60, portfolio.output


def test_a_second_run_is_cheap_and_creates_nothing(portfolio, settings):
    settings.DEBUG = True
    before = counts()
    out = io.StringIO()
    started = time.process_time()
    call_command("seed_demo", stdout=out)
    assert time.process_time() - started < 2
    assert counts() == before
    assert "already present" in out.getvalue()


def test_the_audit_chain_verifies(portfolio):
    assert AuditEvent.objects.filter(action="model.registered").count() == MLModel.objects.count()
    assert audit_verify(triggered_by="test").ok


def test_it_classifies_a_high_risk_credit_model_with_a_complete_file_and_others_with_gaps(portfolio):
    from apps.compliance import selectors

    views = {v.model.slug: v for v in selectors.compliance_of(list(selectors.models_for_compliance().filter(
        slug__in=["retail-credit-scoring", "sme-credit-scoring", "credit-card-limit-management"])))}
    complete = views["retail-credit-scoring"]
    assert complete.facts.classification.annex_iii_area == "essential_services"
    assert {r.control.code for r in complete.results} >= {"EU-9", "EU-10", "EU-11", "EU-14", "EU-72", "EU-73"}
    assert complete.coverage.satisfied == complete.coverage.applicable
    for slug in ("sme-credit-scoring", "credit-card-limit-management"):
        assert views[slug].facts.classification.eu_category == "high_risk"
        assert views[slug].coverage.missing + views[slug].coverage.partial > 0


def test_the_executive_sees_money_at_risk_and_the_stored_figures_equal_fresh_ones(portfolio):
    assert figures.tallies()["money"] > 0
    assert sum(n for key, n in figures.tallies().items() if key.startswith("money:")) == figures.tallies()["money"]
    assert governance_verify() == []
def test_it_shows_a_closed_and_an_open_finding_and_an_open_incident_on_credit_models(portfolio):
    from apps.findings.models import Finding, Incident
    from apps.inventory.models import ModelGovernance, VersionGovernance

    closed = Finding.objects.get(version__model__slug="retail-credit-scoring")
    assert closed.status == "closed" and closed.closed_by.username == "reviewer2" and closed.remediation
    open_finding = Finding.objects.get(version__model__slug="sme-credit-scoring")
    assert open_finding.status == "open" and open_finding.severity == "high"
    state = VersionGovernance.objects.get(version=open_finding.version)
    assert any(b["code"] == "finding_blocking" and b["url"] == open_finding.get_absolute_url()
               for b in state.blockers)
    incident = Incident.objects.get(model__slug="credit-card-limit-management")
    assert incident.is_open and incident.entries.count() == 2
    flags = ModelGovernance.objects.get(model=incident.model).flags
    assert any(flag["kind"] == "incident_open" for flag in flags)

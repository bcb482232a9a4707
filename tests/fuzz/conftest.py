"""Fixtures for the API fuzz tests: one seeded portfolio per module, a user and token per role.

The portfolio is written once, inside a transaction the module rolls back at the end; every test
(and, in ``test_api_fuzz``, every generated example) runs in a savepoint inside it, so no example
sees another's writes and the seeded rows never change.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from rest_framework.throttling import SimpleRateThrottle

from apps.core.roles import Role
from apps.inventory.models import DataSet
from apps.monitoring.models import Alert, Evaluation, MetricWindow
from apps.reviews import services as reviews
from apps.risk import services as risk
from tests.compliance.factories import UseCaseFactory
from tests.factories import UserFactory, api_key_for
from tests.integrations.factories import SyncRunFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
)
from tests.notifications.factories import WebhookDeliveryFactory
from tests.reviews.helpers import assessed_version, submitted_review
from tests.risk.factories import ratings

ANONYMOUS = "anonymous"
IDENTITIES = [ANONYMOUS, *(role.value for role in Role)]


def seed_portfolio() -> dict:
    """A small portfolio touching every API resource; returns the users, tokens and the values of
    every path parameter and reference field the fuzzer should aim at."""
    users = {role.value: UserFactory(username=f"fuzz-{role.value}", roles=[role.value]) for role in Role}
    tokens = {role: api_key_for(user) for role, user in users.items()}
    scientist, reviewer = users["data_scientist"], users["reviewer"]

    process = BusinessProcessFactory(accountable_executive=users["executive"])
    raw, features = DataSetFactory(), DataSetFactory(kind=DataSet.Kind.DERIVED, contains_personal_data=True)
    step = PipelineStepFactory(inputs=[raw], output=features)
    # The data scientist's own team's model, so their writes get past the object check and reach the services.
    model = MLModelFactory(accountable_owner=users["executive"], team__business_unit=process.business_unit,
                           team__members=[scientist], business_processes=[process])
    version = ModelVersionFactory(model=model, training_datasets=[features], validation_metrics={"auc": 0.9})
    deployment = DeploymentFactory(version=version, business_process=process)

    draft_assessment = risk.assessment_save_draft(actor=reviewer, model=model, ratings=ratings())
    draft_review = reviews.review_start(actor=scientist, version=assessed_version(
        accountable_owner=users["executive"], team__members=[scientist]))
    open_review = submitted_review(submitter=scientist, accountable_owner=users["executive"])

    evaluation = Evaluation.objects.create(
        version=version, filename="eval.csv", file_format="csv", sha256="0" * 64, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=10, status=Evaluation.Status.DONE,
        metrics={"overall": {"accuracy": 0.9}, "groups": {}, "fairness": {}, "drift": {}})
    # One whose explanation failed, so that asking for it again (POST .../explain/) gets past the 409.
    explanation_failed = Evaluation.objects.create(
        version=version, filename="eval.csv", file_format="csv", sha256="0" * 64, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=10, status=Evaluation.Status.DONE, explanation_attempts=3,
        metrics={"overall": {"accuracy": 0.9}, "explanations": {"status": "failed", "reason": "Gave up."}})
    alert = Alert.objects.create(model=model, version=version, metric="overall.accuracy", value=0.7,
                                 threshold="< 0.8", severity="breach", message="accuracy is 0.7000.",
                                 evaluation=evaluation)
    delivery = WebhookDeliveryFactory(status="failed")
    sync_run = SyncRunFactory()  # its server's address answers nothing (port 9): a test or sync never reaches MLflow
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = MetricWindow.objects.create(version=version, cadence="daily", window_start=start,
                                         window_end=start + timedelta(days=1), row_count=10,
                                         metrics={"overall": {"accuracy": 0.9}})

    from apps.compliance.services import classification_save
    from apps.core.models import AuditEvent
    from apps.risk.models import GovernancePolicy, RiskMatrix

    classification_save(actor=reviewer, model=model, eu_category="high_risk", annex_iii_area="essential_services",
                        role="provider")
    # A draft of the data scientist's own (they edit, submit and withdraw it), one submitted by someone else
    # (reviewers decide it), and an approved one waiting for its model (a registration names it).
    use_cases = [UseCaseFactory(state="draft", proposed_by=scientist, business_process=process),
                 UseCaseFactory(state="submitted", business_process=process), UseCaseFactory(business_process=process)]
    from tests.findings.factories import FindingFactory, IncidentFactory

    finding = FindingFactory(version=version)
    incident = IncidentFactory(model=model)
    from apps.monitoring.uploads import upload_start

    upload = upload_start(actor=scientist, version=version, filename="big.csv", size=3000, sha256="a" * 64,
                          purpose="evaluation", options={"kind": "production", "sensitive_features": []})

    return {
        "tokens": tokens,
        # Path parameters, by the collection they address (the first segment after /api/v1/).
        "paths": {
            "business-units": [process.business_unit.slug],
            "teams": [model.team.slug],
            "business-processes": [process.slug],
            "datasets": [raw.slug, features.slug],
            "pipeline-steps": [step.slug],
            "models": [model.slug, draft_review.version.model.slug],
            "model-versions": [version.pk, draft_review.version_id, open_review.version_id],
            "deployments": [deployment.pk],
            "risk-assessments": [draft_assessment.pk, *model_assessments(open_review)],
            "governance-policies": list(GovernancePolicy.objects.values_list("pk", flat=True)[:3]),
            "risk-matrices": list(RiskMatrix.objects.values_list("version", flat=True)),
            "reviews": [draft_review.pk, open_review.pk],
            "evaluations": [evaluation.pk, explanation_failed.pk],
            "alerts": [alert.pk],
            "metric-windows": [window.pk],
            "webhooks": [delivery.subscription_id],
            "webhook-deliveries": [delivery.pk],
            "mlflow-servers": [sync_run.server_id],
            "mlflow-sync-runs": [sync_run.pk],
            "audit-events": list(AuditEvent.objects.order_by("-seq").values_list("pk", flat=True)[:3]),
            "compliance": [model.slug, draft_review.version.model.slug],
            "use-cases": [use_case.pk for use_case in use_cases],
            "findings": [finding.pk],
            "incidents": [incident.pk],
            "uploads": [str(upload.pk)],
        },
        # Values for body fields that reference other objects.
        "references": {
            "business_unit": [process.business_unit.slug],
            "team": [model.team.slug],
            "business_process": [process.slug],
            "business_processes": [[process.slug]],
            "model": [model.slug],
            "version": [version.pk, draft_review.version_id],
            "model_version": [version.pk],
            "training_datasets": [[features.slug]],
            "inputs": [[raw.slug]],
            "output": [features.slug],
            "owner": [scientist.username],
            "accountable_owner": [users["executive"].username],
            "accountable_executive": [users["executive"].username],
            "technical_owners": [[scientist.username]],
            "reviewer": [reviewer.username, users["admin"].username],
            "item": list(draft_review.answers.values_list("item_id", flat=True)[:3]),
            "based_on": [None],
            "use_case": [use_cases[-1].reference],
            "business_owner": [users["executive"].username],
        },
    }


def model_assessments(review) -> list[int]:
    return list(review.version.model.risk_assessments.values_list("pk", flat=True))


@pytest.fixture(scope="module")
def portfolio(django_db_setup, django_db_blocker):
    """The seeded portfolio, written once per module in a transaction rolled back at the end."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            data = seed_portfolio()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield data
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def in_process_requests(settings, monkeypatch):
    """Requests reach the WSGI handler directly (no Django test client), so do what the test client does:
    keep the test's database connection open across requests and let exceptions reach the test with
    their traceback. Throttling stays on at rates a fuzz run cannot reach."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "100000/min", "user": "100000/min"})
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)

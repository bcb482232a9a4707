"""Portfolio test data: models in production with the facts governance reads, and their stored state computed.

Rows are written directly (fast); ``refresh`` then computes the stored governance state as the services would
after a change, so the dashboard reads what the gate and the API read.
"""

from datetime import timedelta

from django.utils import timezone

from apps.governance.services import governance_refresh
from apps.inventory.models import Deployment, Stage
from apps.monitoring.models import Alert, MetricWindow
from apps.reviews.models import Review, ReviewDecision
from apps.reviews.services import current_hash
from apps.risk.models import RiskAssessment, RiskRating
from apps.risk.selectors import obligations_for
from tests.factories import UserFactory
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
)

DRIFTED = {"python": "3.11.9", "os": "Linux", "packages": {"scikit-learn": "1.7.0", "numpy": "2.2.0"}}


def refresh(*models) -> None:
    governance_refresh(model_ids=[m.pk for m in models], cause="test")


def production_model(*, runtime=None, environment=Deployment.Environment.PRODUCTION, team=None, process=None,
                     tier="low", approved=True, evaluated=True, deployed_days_ago=0, **model_fields):
    """A model with one version in production, deployed, assessed (``tier``), approved and monitored: compliant
    and healthy unless told otherwise (``approved=False``, ``evaluated=False``, a drifted ``runtime``...)."""
    model = MLModelFactory(stage=Stage.PRODUCTION, **({"team": team} if team else {}), governance=False,
                           **model_fields)
    version = ModelVersionFactory(model=model, stage=Stage.PRODUCTION, training_datasets=[DataSetFactory()],
                                  governance=False)
    DeploymentFactory(version=version, environment=environment, business_process=process or BusinessProcessFactory(),
                      runtime_environment=dict(runtime or FINGERPRINT), governance=False,
                      deployed_at=timezone.now() - timedelta(days=deployed_days_ago))
    assessed(model, tier=tier)
    if approved:
        approve(version)
    if evaluated:
        evaluate(version)
    refresh(model)
    return model


def assessed(model, *, tier="low", due_in_days=100):
    due = timezone.localdate() + timedelta(days=due_in_days)
    assessment = RiskAssessment.objects.create(
        model=model, status="current", exposure="internal", automation_level="human_decides", tier=tier,
        base_tier=tier, submitted_at=timezone.now(), reassessment_due=due)
    RiskRating.objects.create(assessment=assessment, risk="degradation", probability=2, impact=3, severity="medium")
    return assessment


def approve(version):
    """An approved round on the version's current content, with the checklists and approvals its tier asks for."""
    obligations = obligations_for(version.model)
    review = Review.objects.create(version=version, state="approved", decided_at=timezone.now(),
                                   checklists=list(obligations.checklists))
    review.content_hash = current_hash(review)
    review.save(update_fields=["content_hash"])
    for _ in range(obligations.required_approvals):
        ReviewDecision.objects.create(review=review, reviewer=UserFactory(), decision="approve",
                                      content_hash=review.content_hash)
    return review


def evaluate(version, *, days_ago=0.5):
    """A monitoring window of production data that ended ``days_ago`` days ago (within every cadence by default)."""
    end = timezone.now() - timedelta(days=days_ago)
    MetricWindow.objects.create(version=version, cadence="monthly", window_start=end - timedelta(days=30),
                                window_end=end, row_count=500, metrics={"roc_auc": 0.8})


def breach(version, *, metric="overall.roc_auc", message="ROC AUC fell to 0.61."):
    """An open breach alert on the version, its stored state computed again."""
    alert = Alert.objects.create(model=version.model, version=version, metric=metric, value=0.61, threshold="< 0.7",
                                 severity="breach", message=message, breach_at=timezone.now())
    refresh(version.model)
    return alert

"""Risk red flags for the dashboard: overdue re-assessments and live models never assessed."""

from django.db.models import Exists, OuterRef
from django.urls import reverse_lazy as reverse
from django.utils import timezone

from apps.inventory.models import Stage
from apps.inventory.redflags import HIGH, MEDIUM, RedFlag, register
from apps.risk.models import RiskAssessment

OVERDUE = "Re-assessment overdue"
NEVER_ASSESSED = "Never risk-assessed"


@register
def overdue_reassessment(models):
    overdue = (RiskAssessment.objects.filter(model__in=models, status=RiskAssessment.Status.CURRENT,
                                             reassessment_due__lt=timezone.localdate())
               .select_related("model").order_by("reassessment_due"))
    for assessment in overdue:
        model = assessment.model
        severity = HIGH if model.stage == Stage.PRODUCTION else MEDIUM
        yield RedFlag(severity, model.name, OVERDUE,
                      f"{assessment.get_tier_display()} tier; due {assessment.reassessment_due:%Y-%m-%d}.",
                      reverse("risk:model", args=[model.slug]))


@register
def production_never_assessed(models):
    assessed = RiskAssessment.objects.filter(model=OuterRef("pk"), status=RiskAssessment.Status.CURRENT)
    for model in models.filter(stage=Stage.PRODUCTION).exclude(Exists(assessed)):
        yield RedFlag(HIGH, model.name, NEVER_ASSESSED, "In production with no risk assessment on record.",
                      reverse("risk:model", args=[model.slug]))

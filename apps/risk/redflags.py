"""Risk red flags for the dashboard: overdue re-assessments and production models never assessed."""

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from apps.inventory.models import Stage
from apps.inventory.redflags import HIGH, MEDIUM, Source, register, severity_if, within
from apps.risk.models import RiskAssessment

OVERDUE = "Re-assessment overdue"
NEVER_ASSESSED = "Never risk-assessed"


@register
class OverdueReassessment(Source):
    kind = OVERDUE
    severity = severity_if(Q(model__stage=Stage.PRODUCTION), then=HIGH, otherwise=MEDIUM)
    model = "model"
    related = ("model",)

    def rows(self, models):
        return RiskAssessment.objects.filter(status=RiskAssessment.Status.CURRENT,
                                             reassessment_due__lt=timezone.localdate()).filter(within(models, "model"))

    def detail(self, assessment) -> str:
        return f"{assessment.get_tier_display()} tier; due {assessment.reassessment_due:%Y-%m-%d}."

    def url(self, assessment) -> str:
        return reverse("risk:model", args=[assessment.model.slug])


@register
class ProductionNeverAssessed(Source):
    kind = NEVER_ASSESSED
    severity = HIGH

    def rows(self, models):
        assessed = RiskAssessment.objects.filter(model=OuterRef("pk"), status=RiskAssessment.Status.CURRENT)
        return models.filter(stage=Stage.PRODUCTION).exclude(Exists(assessed))

    def detail(self, model) -> str:
        return "In production with no risk assessment on record."

    def url(self, model) -> str:
        return reverse("risk:model", args=[model.slug])

"""Risk red flags for the dashboard: overdue re-assessments and production models never assessed."""

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from apps.inventory.models import Stage
from apps.portfolio.redflags import HIGH, MEDIUM, Source, register, severity_if, within
from apps.risk.selectors import current_assessments, overdue_assessments

OVERDUE = "Re-assessment overdue"
NEVER_ASSESSED = "Never risk-assessed"


@register
class OverdueReassessment(Source):
    kind = OVERDUE
    severity = severity_if(Q(model__stage=Stage.PRODUCTION), then=HIGH, otherwise=MEDIUM)
    model = "model"
    related = ("model",)

    def rows(self, models):
        return overdue_assessments().filter(within(models, "model"))

    def detail(self, assessment) -> str:
        return f"{assessment.get_tier_display()} tier; due {assessment.reassessment_due:%Y-%m-%d}."

    def url(self, assessment) -> str:
        return reverse("risk:model", args=[assessment.model.slug])


@register
class ProductionNeverAssessed(Source):
    kind = NEVER_ASSESSED
    severity = HIGH

    def rows(self, models):
        assessed = current_assessments().filter(model=OuterRef("pk"))
        return models.filter(stage=Stage.PRODUCTION).exclude(Exists(assessed))

    def detail(self, model) -> str:
        return "In production with no risk assessment on record."

    def url(self, model) -> str:
        return reverse("risk:model", args=[model.slug])

"""The executive dashboard. Read-only, open to every role.

The aggregate reads of the inventory the dashboard needs live here as small selector functions; risk,
reviews and monitoring figures come from those apps' selectors. Each costs one or two queries, so the
page costs the same whatever the size of the portfolio.
"""

from collections import Counter
from dataclasses import dataclass

from django import forms
from django.db.models import Count, Q, QuerySet, Sum
from django.urls import reverse
from django.views.generic import TemplateView

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory.charts import list_link
from apps.inventory.filters import env_mismatch_condition, review_status_condition
from apps.inventory.models import (
    LIVE,
    STAGE_ORDER,
    AutomationLevel,
    BusinessProcess,
    BusinessUnit,
    Deployment,
    Exposure,
    MLModel,
    Stage,
)
from apps.monitoring.selectors import production_health
from apps.portfolio import charts, governance_charts, redflags
from apps.reviews.selectors import review_counts
from apps.risk.selectors import risk_counts

RED_FLAGS_SHOWN = 25
ModelProcesses = MLModel.business_processes.through


# --- Selectors ----------------------------------------------------------------------------

def models_in_scope(business_unit: BusinessUnit | None) -> QuerySet:
    models = MLModel.objects.all()
    return models.filter(team__business_unit=business_unit) if business_unit else models


@dataclass(frozen=True)
class ModelCounts:
    stages: list[tuple[str, str, str, int]]  # (unit slug, unit name, stage, models), every stage
    exposures: list[tuple[str, str, int]]  # (exposure, automation level, live models)

    @property
    def live(self) -> int:
        return sum(n for *_, n in self.exposures)


def model_counts(models: QuerySet) -> ModelCounts:
    """The counts of ``models`` behind the stage chart and the exposure chart (of live models, not retired).

    One query, grouped by every dimension either chart splits on (a few hundred groups at most),
    read from an index that covers it; then folded per chart.
    """
    groups = ("team__business_unit__slug", "team__business_unit__name", "stage", "exposure", "automation_level")
    stages, exposures = Counter(), Counter()
    for slug, name, stage, exposure, automation, n in (
            models.order_by().values(*groups).annotate(n=Count("pk")).values_list(*groups, "n")):
        stages[(slug, name, stage)] += n
        if stage != Stage.RETIRED:
            exposures[(exposure, automation)] += n
    return ModelCounts(stages=[(*key, n) for key, n in stages.items()],
                       exposures=[(*key, n) for key, n in exposures.items()])


def review_status_counts(live: QuerySet, *, live_total: int) -> dict[str, int]:
    """The ``live`` models (``live_total`` of them) per review status, counted as the model list's
    ``review_status`` filter lists them (a test holds the two together) so a bar holds the models it opens.

    Approved, in review and never reviewed come from the reviews app's counts. Production without a
    valid approval is about versions, so the filter's own condition counts it.
    """
    reviewed = review_counts(live)
    return {
        "approved": reviewed["approved"],
        "in_review": reviewed["in_review"],
        "unapproved_production": live.filter(review_status_condition("unapproved_production")).count(),
        "none": live_total - reviewed["models"],
    }


def impact_by_unit(business_unit: BusinessUnit | None) -> list[tuple]:
    """(unit slug, unit name, processes, value at stake, decisions per day) of processes production models serve.

    A process counts as served when a production model names it or an active
    production deployment runs for it; each process counts once.
    """
    declared = ModelProcesses.objects.filter(mlmodel__stage=Stage.PRODUCTION).values("businessprocess_id")
    deployed = Deployment.objects.filter(
        environment=Deployment.Environment.PRODUCTION, retired_at__isnull=True, business_process__isnull=False
    ).values("business_process_id")
    served = BusinessProcess.objects.filter(Q(pk__in=declared) | Q(pk__in=deployed))
    if business_unit:
        served = served.filter(business_unit=business_unit)
    return list(
        served.order_by().values("business_unit__slug", "business_unit__name")
        .annotate(processes=Count("pk"), value=Sum("value_at_stake"), decisions=Sum("decisions_per_day"))
        .values_list("business_unit__slug", "business_unit__name", "processes", "value", "decisions")
    )


def process_coverage(business_unit: BusinessUnit | None) -> dict:
    """How many business processes exist and how many at least one live model serves."""
    declared = ModelProcesses.objects.exclude(mlmodel__stage=Stage.RETIRED).values("businessprocess_id")
    deployed = Deployment.objects.filter(retired_at__isnull=True, business_process__isnull=False).values(
        "business_process_id")
    processes = BusinessProcess.objects.all()
    if business_unit:
        processes = processes.filter(business_unit=business_unit)
    return processes.aggregate(
        total=Count("pk"), covered=Count("pk", filter=Q(pk__in=declared) | Q(pk__in=deployed))
    )


# --- Forms ---------------------------------------------------------------------------------

class DashboardFilterForm(forms.Form):
    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.all(), to_field_name="slug", required=False,
        empty_label="All business units", help_text="Narrow every figure on the page to one unit.",
    )


# --- Views ---------------------------------------------------------------------------------

class DashboardView(RoleRequiredMixin, TemplateView):
    """Red flags first, then the headline numbers and charts of the whole portfolio."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "portfolio/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = DashboardFilterForm(self.request.GET or None)
        unit = form.cleaned_data["business_unit"] if form.is_valid() else None
        list_url = reverse("inventory:index")
        models = models_in_scope(unit)
        counts = model_counts(models)
        live = models.exclude(stage=Stage.RETIRED)
        flag_counts = redflags.summary(live)
        review_status = review_status_counts(live, live_total=counts.live)
        context.update(
            form=form,
            business_unit=unit,
            red_flags=redflags.top(live, limit=RED_FLAGS_SHOWN, counts=flag_counts),
            red_flag_total=flag_counts.total,
            red_flag_counts=flag_counts.kinds,
            kpis=self._kpis(counts.stages, flag_counts, process_coverage(unit), list_url, unit,
                            mismatched=live.filter(env_mismatch_condition()).count()),
            charts=[
                charts.stage_by_unit_chart(counts.stages, stages=[(s.value, s.label) for s in STAGE_ORDER],
                                           list_url=list_url),
                charts.impact_by_unit_chart(impact_by_unit(unit), list_url=list_url),
                charts.exposure_automation_chart(
                    counts.exposures, exposures=Exposure.choices,
                    automation_levels=AutomationLevel.choices, list_url=list_url,
                    business_unit=unit.slug if unit else ""),
            ],
            governance_charts=[
                governance_charts.risk_heatmap(*risk_counts(live),
                                               register_url=reverse("risk:index")),
                governance_charts.review_status_chart(review_status, list_url=list_url,
                                                      business_unit=unit.slug if unit else ""),
                governance_charts.health_chart(production_health(live), monitoring_url=reverse("monitoring:index")),
            ],
        )
        return context

    @staticmethod
    def _kpis(counts, flag_counts: redflags.Summary, coverage, list_url, unit, *, mismatched: int) -> list[dict]:
        slug = unit.slug if unit else ""
        by_stage = {}
        for _, _, stage, n in counts:
            by_stage[stage] = by_stage.get(stage, 0) + n
        retired = by_stage.get(Stage.RETIRED, 0)
        owner_left = flag_counts.count(redflags.OWNER_LEFT).total
        # Each figure is the number of models the list it links to shows.
        return [
            {"label": "Models", "value": sum(by_stage.values()) - retired,
             "note": f"not retired; {retired} retired",
             "url": list_link(list_url, business_unit=slug, stage=LIVE)},
            {"label": "In production", "value": by_stage.get(Stage.PRODUCTION, 0), "note": "models",
             "url": list_link(list_url, business_unit=slug, stage=Stage.PRODUCTION)},
            {"label": "Business processes covered", "value": coverage["covered"],
             "note": f"of {coverage['total']} served by a live model", "url": reverse("inventory:lineage")},
            {"label": "Environment mismatches", "value": mismatched, "bad": bool(mismatched),
             "note": "live models with a deployment running outside its validated environment",
             "url": list_link(list_url, business_unit=slug, stage=LIVE, env_mismatch="true")},
            {"label": "Owners who left", "value": owner_left, "bad": bool(owner_left),
             "note": "live models whose accountable owner is inactive",
             "url": list_link(list_url, business_unit=slug, stage=LIVE, owner_left="true")},
        ]

"""The executive dashboard. Read-only, open to every role.

The aggregate reads of the inventory the dashboard needs live here as small selector functions. Every
governance figure (state, health, approval, tier, reasons) counts the stored governance state, the one the
production gate and the API read; only the risk heat map's ratings come from the risk app's selector. Each
costs one or two queries, so the page costs the same whatever the size of the portfolio.
"""

from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.db.models import Count, Q, QuerySet, Sum
from django.urls import reverse
from django.views.generic import TemplateView

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory import governance as g
from apps.inventory.charts import list_link
from apps.inventory.filters import env_mismatch_condition, reason_condition
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
from apps.portfolio import charts, governance_charts, redflags
from apps.risk.selectors import rating_cells

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


@dataclass(frozen=True)
class GovernanceCounts:
    """Models per value of each dimension of their stored governance state (every value present, 0 when none)."""

    status: dict[str, int]
    health: dict[str, int]
    approval: dict[str, int]
    tier: dict[str, int]  # "" = never assessed
    reason: dict[str, int]  # models whose state gives the reason code
    uncomputed: int  # models whose state has not been computed yet (counted in none of the above)


def governance_counts(models: QuerySet) -> GovernanceCounts:
    """The stored governance state of ``models``, counted per dimension: one aggregate query.

    Each count is what the model list's filter of the same name and value lists (``governance``, ``health``,
    ``approval``, ``tier``, ``reason``), since both read the same columns.
    """
    dimensions = {"status": g.STATUSES, "health": g.HEALTHS, "approval": g.APPROVALS,
                  "tier": ("critical", "high", "medium", "low", "")}
    counts = {f"{name}:{value}": Count("pk", filter=Q(**{f"governance__{name}": value}))
              for name, values in dimensions.items() for value in values}
    counts.update({f"reason:{code}": Count("pk", filter=reason_condition(code)) for code in g.REASON_CODES})
    found = models.order_by().aggregate(uncomputed=Count("pk", filter=Q(governance__isnull=True)), **counts)
    by = {name: {} for name in (*dimensions, "reason")}
    for key, n in found.items():
        if ":" in key:
            name, value = key.split(":", 1)
            by[name][value] = n
    return GovernanceCounts(**by, uncomputed=found["uncomputed"])


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
        slug = unit.slug if unit else ""
        list_url = reverse("inventory:index")
        models = models_in_scope(unit)
        counts = model_counts(models)
        live = models.exclude(stage=Stage.RETIRED)
        state = governance_counts(live)
        flag_counts = redflags.summary(live)
        context.update(
            form=form,
            business_unit=unit,
            red_flags=redflags.top(live, limit=RED_FLAGS_SHOWN, counts=flag_counts),
            red_flag_total=flag_counts.total,
            red_flag_counts=flag_counts.kinds,
            uncomputed=state.uncomputed,
            kpis=self._kpis(counts.stages, state, process_coverage(unit), list_url, slug,
                            mismatched=live.filter(env_mismatch_condition()).count()),
            charts=[
                charts.stage_by_unit_chart(counts.stages, stages=[(s.value, s.label) for s in STAGE_ORDER],
                                           list_url=list_url),
                charts.impact_by_unit_chart(impact_by_unit(unit), list_url=list_url),
                charts.exposure_automation_chart(
                    counts.exposures, exposures=Exposure.choices,
                    automation_levels=AutomationLevel.choices, list_url=list_url, business_unit=slug),
            ],
            governance_charts=[
                governance_charts.governance_state_chart(state.status, list_url=list_url, business_unit=slug),
                governance_charts.health_chart(state.health, list_url=list_url, business_unit=slug),
                governance_charts.approval_chart(state.approval, list_url=list_url, business_unit=slug),
                governance_charts.risk_heatmap(rating_cells(live), state.tier, register_url=reverse("risk:index")),
            ],
        )
        return context

    @staticmethod
    def _kpis(counts, state: GovernanceCounts, coverage, list_url, slug: str, *, mismatched: int) -> list[dict]:
        by_stage = {}
        for _, _, stage, n in counts:
            by_stage[stage] = by_stage.get(stage, 0) + n
        retired = by_stage.get(Stage.RETIRED, 0)
        failing = state.status[g.NON_COMPLIANT] + state.status[g.SUSPENDED]
        no_evidence = state.health[g.NO_EVIDENCE]
        owner_left = state.reason["owner_inactive"]
        # Each figure is the number of models the list it links to shows.
        return [
            {"label": "Models", "value": sum(by_stage.values()) - retired,
             "note": f"not retired; {retired} retired",
             "url": list_link(list_url, business_unit=slug, stage=LIVE)},
            {"label": "In production", "value": by_stage.get(Stage.PRODUCTION, 0), "note": "models",
             "url": list_link(list_url, business_unit=slug, stage=Stage.PRODUCTION)},
            {"label": "Business processes covered", "value": coverage["covered"],
             "note": f"of {coverage['total']} served by a live model", "url": reverse("inventory:lineage")},
            {"label": "Non-compliant or suspended", "value": failing, "bad": bool(failing),
             "note": f"live models; {state.status[g.SUSPENDED]} with a suspended approval",
             "url": _model_list(list_url, business_unit=slug, stage=LIVE,
                                governance=[g.NON_COMPLIANT, g.SUSPENDED])},
            {"label": "No monitoring evidence", "value": no_evidence, "bad": bool(no_evidence),
             "note": f"in production; {state.reason['monitoring_never']} never evaluated, "
                     f"{state.reason['monitoring_overdue']} overdue",
             "url": list_link(list_url, business_unit=slug, stage=LIVE, health=g.NO_EVIDENCE)},
            {"label": "Environment mismatches", "value": mismatched, "bad": bool(mismatched),
             "note": "live models with a deployment running outside its validated environment",
             "url": list_link(list_url, business_unit=slug, stage=LIVE, env_mismatch="true")},
            {"label": "Owners who left", "value": owner_left, "bad": bool(owner_left),
             "note": "live models whose accountable owner is inactive",
             "url": list_link(list_url, business_unit=slug, stage=LIVE, reason="owner_inactive")},
        ]


def _model_list(list_url: str, **params) -> str:
    """The model list filtered by ``params``, a list value repeating its parameter (empty values left out)."""
    return f"{list_url}?{urlencode({k: v for k, v in params.items() if v}, doseq=True)}"

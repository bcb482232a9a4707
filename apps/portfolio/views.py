"""The executive dashboard. Read-only, open to every role.

The aggregate reads the dashboard needs live here as small selector functions. Every figure counts the stored
governance state, the one the production gate and the API read, through the tallies each state adds to its
business unit; the red flags are the stored flags of the worst models. The page costs the same number of
queries, each reading a bounded number of rows, whatever the size of the portfolio.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.db.models import Count, QuerySet, Sum
from django.urls import reverse
from django.views.generic import TemplateView

from apps.core.currency import format_money
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.governance import figures
from apps.inventory import governance as g
from apps.inventory.charts import list_link
from apps.inventory.models import (
    LIVE,
    STAGE_ORDER,
    AutomationLevel,
    BusinessProcess,
    BusinessUnit,
    Exposure,
    MLModel,
    PortfolioTally,
    Stage,
)
from apps.portfolio import charts, governance_charts, redflags
from apps.risk.selectors import current_matrix

RED_FLAGS_SHOWN = 25


# --- Selectors ----------------------------------------------------------------------------
# Every figure reads the tallies each model's stored state adds to its business unit
# (``apps.governance.figures``): a query or two, whatever the size of the portfolio.

def live_model_count(business_unit: BusinessUnit | None) -> int:
    """Live models in the inventory (one count over the stage index), computed or not."""
    models = MLModel.objects.exclude(stage=Stage.RETIRED)
    return (models.filter(team__business_unit=business_unit) if business_unit else models).count()


def stages_by_unit(business_unit: BusinessUnit | None) -> list[tuple[str, str, str, int]]:
    """(unit slug, unit name, stage, models) of every stage with models: the stage chart's figures."""
    rows = PortfolioTally.objects.filter(key__startswith="stage:", n__gt=0)
    if business_unit:
        rows = rows.filter(business_unit=business_unit)
    return [(slug, name, key.removeprefix("stage:"), n) for slug, name, key, n in rows.order_by().values_list(
        "business_unit__slug", "business_unit__name", "key", "n")]


def exposures(tallies) -> list[tuple[str, str, int]]:
    """(exposure, automation level, live models) from the tallies: the exposure chart's figures."""
    return [(*key.removeprefix("exposure:").split("|", 1), n) for key, n in tallies.items()
            if key.startswith("exposure:")]


@dataclass(frozen=True)
class GovernanceCounts:
    """Live models per value of each dimension of their stored governance state (every value present, 0 when
    none). Each count is what the model list's filter of the same name and value lists (``governance``,
    ``health``, ``approval``, ``tier``, ``reason``)."""

    status: dict[str, int]
    health: dict[str, int]
    approval: dict[str, int]
    tier: dict[str, int]  # "" = never assessed
    reason: dict[str, int]  # models whose state gives the reason code
    heat: dict[tuple[int, int], int]  # risks of the current assessments per (probability, impact)

    @classmethod
    def of(cls, tallies) -> "GovernanceCounts":
        dimensions = {"status": g.STATUSES, "health": g.HEALTHS, "approval": g.APPROVALS,
                      "tier": ("critical", "high", "medium", "low", ""), "reason": tuple(g.REASON_CODES)}
        heat = {}
        for key, n in tallies.items():
            if key.startswith("heat:"):
                probability, impact = key.removeprefix("heat:").split(",")
                heat[(int(probability), int(impact))] = n
        return cls(**{name: {value: tallies.get(f"{name}:{value}", 0) for value in values}
                      for name, values in dimensions.items()}, heat=heat)


def _processes(tallies, prefix: str, business_unit: BusinessUnit | None) -> QuerySet:
    ids = [int(key.removeprefix(prefix)) for key, n in tallies.items() if key.startswith(prefix) and n > 0]
    processes = BusinessProcess.objects.filter(pk__in=ids)
    return processes.filter(business_unit=business_unit) if business_unit else processes


def impact_by_unit(tallies, business_unit: BusinessUnit | None) -> list[tuple]:
    """(unit slug, unit name, processes, value at stake, decisions per day) of processes production models serve.

    A process counts as served when a production model names it or an active production deployment runs for
    it; each process counts once, in the unit the process belongs to.
    """
    return list(
        _processes(tallies, "serves:", business_unit).order_by().values("business_unit__slug", "business_unit__name")
        .annotate(processes=Count("pk"), value=Sum("value_at_stake"), decisions=Sum("decisions_per_day"))
        .values_list("business_unit__slug", "business_unit__name", "processes", "value", "decisions")
    )


MONEY_SHOWN = 10


def money_by_unit(business_unit: BusinessUnit | None) -> list[tuple[str, str, int]]:
    """(unit slug, unit name, expected exposure) of the units whose production models put money at risk, most
    first: one query over the units' tallies."""
    rows = PortfolioTally.objects.filter(key="money", n__gt=0)
    if business_unit:
        rows = rows.filter(business_unit=business_unit)
    return list(rows.order_by("-n", "business_unit__name")[:MONEY_SHOWN]
                .values_list("business_unit__slug", "business_unit__name", "n"))


def money_by_process(tallies, limit: int = MONEY_SHOWN) -> list[tuple[BusinessProcess, int]]:
    """The processes with the most expected exposure (summed over the models serving them), most first."""
    amounts = sorted(((int(key.removeprefix("money:")), n) for key, n in tallies.items()
                      if key.startswith("money:") and n > 0), key=lambda pair: (-pair[1], pair[0]))[:limit]
    processes = BusinessProcess.objects.select_related("business_unit").in_bulk([pk for pk, _ in amounts])
    return [(processes[pk], n) for pk, n in amounts if pk in processes]


def process_coverage(tallies, business_unit: BusinessUnit | None) -> dict:
    """How many business processes exist and how many at least one live model serves."""
    processes = BusinessProcess.objects.filter(business_unit=business_unit) if business_unit \
        else BusinessProcess.objects.all()
    return {"total": processes.count(), "covered": _processes(tallies, "covers:", business_unit).count()}


# --- Forms ---------------------------------------------------------------------------------

class DashboardFilterForm(forms.Form):
    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.all(), to_field_name="slug", required=False,
        empty_label="All business units", help_text="Narrow every figure on the page to one unit.",
    )
    rank = forms.ChoiceField(
        choices=[(redflags.SEVERITY_FIRST, "Most severe first"), (redflags.MONEY_FIRST, "Most money at risk first")],
        required=False, label="Rank red flags", help_text="Order of the red flags.",
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
        order = (form.cleaned_data["rank"] if form.is_valid() else "") or redflags.SEVERITY_FIRST
        slug = unit.slug if unit else ""
        list_url = reverse("inventory:index")
        tallies = figures.tallies(unit.pk if unit else None)
        stages = stages_by_unit(unit)
        state = GovernanceCounts.of(tallies)
        flag_counts = redflags.summary(tallies)
        live = live_model_count(unit)
        matrix = current_matrix()
        rules = matrix.config if matrix else {}
        context.update(
            form=form,
            business_unit=unit,
            red_flags=redflags.top(unit, limit=RED_FLAGS_SHOWN, order=order),
            rank=order,
            money_total=tallies.get("money", 0),
            money_units=money_by_unit(unit),
            money_processes=money_by_process(tallies),
            red_flag_total=flag_counts.total,
            red_flag_counts=flag_counts.kinds,
            # Models whose state (or its figures) is not stored yet are in no figure but the first KPI.
            uncomputed=max(live - tallies.get("live", 0), 0),
            kpis=[{"label": "Money at risk", "value": format_money(tallies.get("money", 0)),
                   "bad": bool(tallies.get("money")), "url": "#money-title",
                   "note": "expected yearly exposure: value at stake of the processes production models serve, "
                           "weighed by their risk and governance state"},
                  *self._kpis(stages, state, process_coverage(tallies, unit), list_url, slug, live=live,
                              mismatched=tallies.get("env_mismatch", 0))],
            charts=[
                charts.stage_by_unit_chart(stages, stages=[(s.value, s.label) for s in STAGE_ORDER],
                                           list_url=list_url),
                charts.impact_by_unit_chart(impact_by_unit(tallies, unit), list_url=list_url),
                charts.exposure_automation_chart(
                    exposures(tallies), exposures=Exposure.choices,
                    automation_levels=AutomationLevel.choices, list_url=list_url, business_unit=slug, rules=rules),
            ],
            governance_charts=[
                governance_charts.governance_state_chart(state.status, list_url=list_url, business_unit=slug),
                governance_charts.health_chart(state.health, list_url=list_url, business_unit=slug),
                governance_charts.approval_chart(state.approval, list_url=list_url, business_unit=slug),
                governance_charts.risk_heatmap(state.heat, state.tier, register_url=reverse("risk:index"),
                                               grid=rules.get("grid")),
            ],
        )
        return context

    @staticmethod
    def _kpis(counts, state: GovernanceCounts, coverage, list_url, slug: str, *, live: int,
              mismatched: int) -> list[dict]:
        by_stage = {}
        for _, _, stage, n in counts:
            by_stage[stage] = by_stage.get(stage, 0) + n
        retired = by_stage.get(Stage.RETIRED, 0)
        failing = state.status[g.NON_COMPLIANT] + state.status[g.SUSPENDED]
        no_evidence = state.health[g.NO_EVIDENCE]
        owner_left = state.reason["owner_inactive"]
        # Each figure is the number of models the list it links to shows.
        return [
            {"label": "Models", "value": live,
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

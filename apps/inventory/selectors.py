"""Reads of the inventory pages: each returns everything a page shows in a constant number of queries."""

from collections.abc import Mapping

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from apps.core.roles import Capability, may
from apps.inventory import governance as g
from apps.inventory.filters import BusinessProcessFilter, DataSetFilter, ModelFilter, process_condition
from apps.inventory.models import (
    BusinessProcess,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    PortfolioTally,
    StageTransition,
    Team,
)

DATASET_SORTS = {
    "name": ("name", "version"),
    "-name": ("-name", "-version"),
    "updated": ("updated_at",),
    "-updated": ("-updated_at",),
    "models": ("models_count", "name"),
    "-models": ("-models_count", "name"),
}
PROCESS_SORTS = {
    "name": ("name",),
    "-name": ("-name",),
    "value": ("value_at_stake", "name"),
    "-value": ("-value_at_stake", "name"),
    "models": ("models_count", "name"),
    "-models": ("-models_count", "name"),
    "unit": ("business_unit__name", "name"),
    "-unit": ("-business_unit__name", "name"),
}


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated COUNT(*) subquery: unlike ``Count()`` it is not inflated by the filters' joins."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _ordered(queryset: QuerySet, filters: Mapping, sorts: dict) -> QuerySet:
    return queryset.order_by(*sorts.get(filters.get("sort") or "", next(iter(sorts.values()))), "pk")


def teams_for_registration(user) -> QuerySet:
    """The teams ``user`` may put a model into: their own, or every team for admins (core.roles)."""
    teams = Team.objects.select_related("business_unit")
    return teams if may(user, Capability.WRITE_ANY_TEAM) else teams.filter(members=user)


def active_deployments() -> QuerySet:
    return Deployment.objects.filter(retired_at__isnull=True)


def models_for_list(filters: Mapping | None = None) -> ModelFilter:
    """The model list as a ``ModelFilter``: ``.form`` for the filter bar, ``.qs`` for the rows.

    Each row carries ``latest_version``, ``active_deployments`` and ``env_mismatch`` as
    annotations, and its team, unit, accountable owner and stored governance state by join,
    so a page of rows is one query.
    """
    model_deployments = active_deployments().filter(version__model=OuterRef("pk"))
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-created_at", "-pk")
    queryset = (
        MLModel.objects.select_related("team__business_unit", "accountable_owner", "governance")
        .annotate(
            latest_version=Subquery(latest.values("version")[:1]),
            active_deployments=_count(model_deployments, "version__model"),
            env_mismatch=Exists(model_deployments.filter(environment_mismatch=True)),
        )
        .order_by("name", "pk")
    )
    return ModelFilter(filters or {}, queryset=queryset)


def models_for_export(filters: Mapping | None = None) -> QuerySet:
    """The filtered model list with the many-to-many values a CSV row needs."""
    return models_for_list(filters).qs.prefetch_related("tags", "business_processes", "technical_owners")


def _version_queryset() -> QuerySet:
    return ModelVersion.objects.select_related("governance").order_by("-created_at", "-pk").prefetch_related(
        Prefetch("transitions", queryset=StageTransition.objects.select_related("actor")),
        Prefetch("deployments", queryset=Deployment.objects.select_related("business_process")),
        Prefetch(
            "training_datasets",
            queryset=DataSet.objects.prefetch_related(
                Prefetch("produced_by_steps", queryset=PipelineStep.objects.prefetch_related("inputs"))
            ),
        ),
    )


def model_detail(*, slug: str) -> MLModel:
    """One model with its people, processes, tags and versions (newest first) with their
    transitions, deployments and training data lineage; 404 if there is no such model."""
    queryset = MLModel.objects.select_related(
        "team__business_unit", "accountable_owner", "governance").prefetch_related(
        "technical_owners",
        "business_processes",
        "tags",
        Prefetch("versions", queryset=_version_queryset()),
    )
    return get_object_or_404(queryset, slug=slug)


def active_first(deployments) -> list[Deployment]:
    """Deployments with the active ones first, each group newest first."""
    return sorted(deployments, key=lambda d: (not d.is_active, -d.deployed_at.timestamp()))


def model_deployments(model: MLModel) -> list[Deployment]:
    """All deployments of a model fetched by ``model_detail``, active first, newest first."""
    return active_first(d for version in model.versions.all() for d in version.deployments.all())


def version_detail(*, slug: str, version: str) -> ModelVersion:
    queryset = (
        ModelVersion.objects.select_related("model__team__business_unit", "model__accountable_owner", "created_by",
                                            "governance")
        .prefetch_related(
            "training_datasets",
            Prefetch("transitions", queryset=StageTransition.objects.select_related("actor")),
            Prefetch("deployments", queryset=Deployment.objects.select_related("business_process")),
        )
    )
    return get_object_or_404(queryset, model__slug=slug, version=version)


def datasets_for_list(filters: Mapping | None = None) -> DataSetFilter:
    filters = filters or {}
    queryset = DataSet.objects.select_related("owner").annotate(
        models_count=Count("trained_versions__model", distinct=True)
    )
    return DataSetFilter(filters, queryset=_ordered(queryset, filters, DATASET_SORTS))


def dataset_detail(*, slug: str) -> DataSet:
    """A data set with its upstream steps (and their inputs) and downstream steps and model versions."""
    queryset = DataSet.objects.select_related("owner").prefetch_related(
        Prefetch("produced_by_steps", queryset=PipelineStep.objects.prefetch_related("inputs")),
        Prefetch("consumed_by_steps", queryset=PipelineStep.objects.select_related("output")),
        Prefetch("trained_versions",
                 queryset=ModelVersion.objects.select_related("model").order_by("model__name", "-created_at")),
    )
    return get_object_or_404(queryset, slug=slug)


def processes_for_list(filters: Mapping | None = None) -> BusinessProcessFilter:
    filters = filters or {}
    # The models its page lists (``process_condition``): named, or served by an active deployment.
    driving = (MLModel.objects.filter(process_condition(OuterRef(OuterRef("pk")))).order_by()
               .annotate(all=Value(1)).values("all").annotate(n=Count("pk")).values("n"))
    queryset = BusinessProcess.objects.select_related("business_unit", "accountable_executive").annotate(
        models_count=Coalesce(Subquery(driving, output_field=IntegerField()), Value(0))
    )
    return BusinessProcessFilter(filters, queryset=_ordered(queryset, filters, PROCESS_SORTS))


def process_detail(*, slug: str) -> BusinessProcess:
    queryset = BusinessProcess.objects.select_related("business_unit", "accountable_executive")
    return get_object_or_404(queryset, slug=slug)


def process_models(process: BusinessProcess) -> QuerySet:
    """The models that drive a process, worst governance state first, then by name.

    A model counts when it names the process or when one of its deployments serves it,
    so a deployment recorded against the process is never hidden.
    """
    return (MLModel.objects.filter(process_condition(process))
            .select_related("team__business_unit", "accountable_owner", "governance")
            .order_by("-governance_rank", "name", "pk"))


def with_serving_deployments(models, process: BusinessProcess) -> list[dict]:
    """``models`` (a page of them), each with its active deployments serving ``process``: one query."""
    models = list(models)
    serving = list(active_deployments().filter(business_process=process, version__model__in=[m.pk for m in models])
                   .select_related("version__model"))
    return [{"model": model, "deployments": [d for d in serving if d.version.model_id == model.pk]}
            for model in models]


def process_money_at_risk(process: BusinessProcess) -> int:
    """The expected yearly exposure of the process: the shares of the production models serving it, as their
    stored figures add them to the tallies (``apps.governance.exposure``): one query."""
    return PortfolioTally.objects.filter(key=f"money:{process.pk}").aggregate(total=Sum("n"))["total"] or 0


def process_rollup(models: QuerySet) -> tuple[g.Rollup, int]:
    """The stored states of ``models`` counted per status in SQL (``apps.inventory.governance.rollup``), and how
    many have no stored state yet: one query however many models drive the process."""
    counts = dict(models.order_by().values("governance__status").annotate(n=Count("pk"))
                  .values_list("governance__status", "n"))
    rollup = g.Rollup()
    for status, n in counts.items():
        if status is not None:
            rollup.counts[status] = n
    return rollup, counts.get(None, 0)


NOT_COMPUTED = "Its governance state has not been computed yet; it will be within minutes."


def stored_governance(obj):
    """The stored governance state of a model or version (``obj.governance``), or None before its first computation."""
    try:
        return obj.governance
    except ObjectDoesNotExist:
        return None


def gate_blockers(version) -> list[str]:
    """What the production gate would refuse on, as stored (the gate itself recomputes before it decides)."""
    state = stored_governance(version)
    if state is None:
        return [NOT_COMPUTED]
    return [reason["message"] for reason in state.blockers]

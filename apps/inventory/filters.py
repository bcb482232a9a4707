"""FilterSets shared by the inventory pages and the API (one definition serves both)."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q

from apps.core.filters import YesNoFilter
from apps.inventory import governance as g
from apps.inventory.models import (
    LIVE,
    AutomationLevel,
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    Exposure,
    MLModel,
    ModelReasonCode,
    ModelVersion,
    Stage,
    TaskType,
    Team,
)

MODEL_SORTS = {
    "name": "name",
    "-name": "-name",
    "stage": "stage",
    "-stage": "-stage",
    "updated": "updated_at",
    "-updated": "-updated_at",
    "unit": "team__business_unit__name",
    "-unit": "-team__business_unit__name",
    # The stored state's rank, kept on the model row so a page is read from an index; ties by name.
    "governance": ("governance_rank", "name"),
    "-governance": ("-governance_rank", "name"),
}


class ModelFilter(django_filters.FilterSet):
    """Query parameters: q, business_unit, team, stage, exposure, automation_level, owner, task_type, tag,
    process, governance, health, approval, reason, tier, reassessment_overdue, env_mismatch, owner_left,
    sort (one of ``MODEL_SORTS``)."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Name, purpose or tag")
    business_unit = django_filters.ModelChoiceFilter(
        field_name="team__business_unit", queryset=BusinessUnit.objects.all(), to_field_name="slug",
        label="Business unit",
    )
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(), to_field_name="slug")
    stage = django_filters.ChoiceFilter(
        choices=[(LIVE, "Any live stage (not retired)"), *Stage.choices], method="filter_stage",
        help_text='"live": every stage but retired, as the dashboard counts models.')
    exposure = django_filters.ChoiceFilter(choices=Exposure.choices)
    automation_level = django_filters.ChoiceFilter(choices=AutomationLevel.choices, label="Automation level")
    task_type = django_filters.ChoiceFilter(choices=TaskType.choices, label="Task type")
    owner = django_filters.CharFilter(method="filter_owner", label="Owner (username)",
                                      help_text="Accountable or technical owner")
    tag = django_filters.CharFilter(field_name="tags__name", label="Tag")
    # field_name only tells the API schema the value is a process slug; filter_process decides which models match.
    process = django_filters.ModelChoiceFilter(
        field_name="business_processes", method="filter_process", queryset=BusinessProcess.objects.all(),
        to_field_name="slug",
        label="Business process", help_text="Models that name it or have an active deployment serving it.",
    )
    # The stored governance state (apps.inventory.governance): the same values the gate and the API read, as
    # the governance service keeps them on the model row (indexed with the name, so a page and its count read
    # an index). No DISTINCT (MultipleChoiceFilter's default): it made the page and its count compare every
    # column of every match.
    governance = django_filters.MultipleChoiceFilter(
        field_name="governance_status", label="Governance state", distinct=False,
        choices=[(s, g.STATUS_LABELS[s]) for s in g.STATUSES])
    health = django_filters.MultipleChoiceFilter(
        field_name="governance_health", label="Health", distinct=False,
        choices=[(h, g.HEALTH_LABELS[h]) for h in g.HEALTHS])
    approval = django_filters.MultipleChoiceFilter(
        field_name="governance_approval", label="Approval", distinct=False,
        choices=[(a, g.APPROVAL_LABELS[a]) for a in g.APPROVALS])
    reason = django_filters.ChoiceFilter(method="filter_reason", label="Reason",
                                         choices=sorted(g.REASON_CODES.items(), key=lambda c: c[1]))
    tier = django_filters.ChoiceFilter(
        method="filter_tier", label="Risk tier",
        choices=[("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical"),
                 ("unassessed", "Not assessed")])
    reassessment_overdue = YesNoFilter(method="filter_overdue", label="Re-assessment overdue")
    review_status = django_filters.ChoiceFilter(
        method="filter_review_status", label="Approval (former review status)",
        help_text="Kept for old links; use approval.",
        choices=[("approved", "Has a valid approval"), ("unapproved_production",
                                                       "In production without valid approval"),
                 ("none", "Never approved")])
    env_mismatch = YesNoFilter(method="filter_env_mismatch", label="Environment mismatch")
    owner_left = YesNoFilter(method="filter_owner_left", label="Accountable owner has left")
    sort = django_filters.ChoiceFilter(method="apply_sort", choices=[(k, k) for k in MODEL_SORTS], label="Sort")

    class Meta:
        model = MLModel
        fields = ["q", "business_unit", "team", "stage", "exposure", "automation_level", "task_type", "owner", "tag",
                  "process", "governance", "health", "approval", "reason", "tier", "reassessment_overdue",
                  "review_status", "env_mismatch", "owner_left", "sort"]

    # Related rows are matched in subqueries rather than joins, so no DISTINCT over the whole match is needed.
    def search(self, queryset, name, value):
        tagged = MLModel.tags.through.objects.filter(tag__name__iexact=value).values("mlmodel_id")
        return queryset.filter(
            Q(name__icontains=value) | Q(purpose__icontains=value) | Q(slug__icontains=value) | Q(pk__in=tagged)
        )

    def filter_owner(self, queryset, name, value):
        users = get_user_model().objects.filter(username__iexact=value)
        owned = MLModel.technical_owners.through.objects.filter(user__in=users).values("mlmodel_id")
        return queryset.filter(Q(accountable_owner__in=users) | Q(pk__in=owned))

    def filter_process(self, queryset, name, value):
        return queryset.filter(process_condition(value))

    def filter_stage(self, queryset, name, value):
        return queryset.exclude(stage=Stage.RETIRED) if value == LIVE else queryset.filter(stage=value)

    def filter_env_mismatch(self, queryset, name, value):
        return queryset.filter(env_mismatch_condition()) if value else queryset.exclude(env_mismatch_condition())

    def filter_tier(self, queryset, name, value):
        return queryset.filter(governance__tier="" if value == "unassessed" else value)

    def filter_reason(self, queryset, name, value):
        return queryset.filter(reason_condition(value))

    def filter_overdue(self, queryset, name, value):
        overdue = reason_condition("assessment_overdue")
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_review_status(self, queryset, name, value):
        return queryset.filter(review_status_condition(value))

    def filter_owner_left(self, queryset, name, value):
        return queryset.filter(accountable_owner__is_active=not value)

    def apply_sort(self, queryset, name, value):
        order = MODEL_SORTS[value]
        return queryset.order_by(*(order if isinstance(order, tuple) else (order,)), "pk")


def env_mismatch_condition() -> Q:
    """Models with an active deployment (any environment) running outside its validated environment.

    A plain ``IN`` over the few such deployments (an index holds just them), not an ``EXISTS`` per model:
    correlated, it probed every model's versions (0.8 s of the dashboard at 100,000 models on SQLite)."""
    mismatched = Deployment.objects.filter(retired_at__isnull=True, environment_mismatch=True)
    return Q(pk__in=mismatched.values("version__model_id"))


def process_condition(process: BusinessProcess | OuterRef) -> Q:
    """The models that drive ``process``: they name it, or an active deployment of theirs serves it. The process
    list counts these, the process page lists them and links its counts to the model list filtered by ``process``,
    so all three use this one rule."""
    named = MLModel.business_processes.through.objects.filter(businessprocess=process).values("mlmodel_id")
    served = Deployment.objects.filter(business_process=process, retired_at__isnull=True).values("version__model_id")
    if isinstance(process, OuterRef):
        return Q(pk__in=named) | Q(pk__in=served)
    # One IN over both: with an OR of two, PostgreSQL tested every model against both (36 ms at 100,000 models).
    return Q(pk__in=named.order_by().union(served.order_by()))


def reason_condition(code: str) -> Q:
    """Models whose stored governance state gives reason ``code`` (its rows of ``ModelReasonCode``, indexed)."""
    return Q(pk__in=ModelReasonCode.objects.filter(code=code).values("model_id"))


def review_status_condition(value: str) -> Q:
    """Models by the stored approval of what runs (``review_status`` choices, kept for links made before it)."""
    if value == "approved":
        return Q(governance_approval=g.APPROVED)
    if value == "none":
        return Q(governance_approval=g.MISSING)
    return Q(stage=Stage.PRODUCTION) & ~Q(governance_approval=g.APPROVED)


class VersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__slug", label="Model (slug)")
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    governance = django_filters.MultipleChoiceFilter(
        field_name="governance__status", label="Governance state", distinct=False,
        choices=[(s, g.STATUS_LABELS[s]) for s in g.STATUSES])
    approval = django_filters.MultipleChoiceFilter(
        field_name="governance__approval", label="Approval", distinct=False,
        choices=[(a, g.APPROVAL_LABELS[a]) for a in g.APPROVALS])
    gate_open = YesNoFilter(field_name="governance__gate_open", label="Nothing blocks production")
    reason = django_filters.ChoiceFilter(method="filter_reason", label="Reason",
                                         choices=sorted(g.REASON_CODES.items(), key=lambda c: c[1]))

    class Meta:
        model = ModelVersion
        fields = ["model", "stage", "governance", "approval", "gate_open", "reason"]

    def filter_reason(self, queryset, name, value):
        return queryset.filter(governance__reason_codes__contains=f",{value},")


class DataSetFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    kind = django_filters.ChoiceFilter(choices=DataSet.Kind.choices)
    contains_personal_data = YesNoFilter(label="Holds personal data")
    source_system = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = DataSet
        fields = ["q", "kind", "contains_personal_data", "source_system"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class DeploymentFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="version__model__slug", label="Model (slug)")
    environment = django_filters.ChoiceFilter(choices=Deployment.Environment.choices)
    active = YesNoFilter(field_name="retired_at", lookup_expr="isnull", label="Active")
    environment_mismatch = YesNoFilter()

    class Meta:
        model = Deployment
        fields = ["model", "environment", "active", "environment_mismatch"]


class BusinessProcessFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    business_unit = django_filters.ModelChoiceFilter(
        queryset=BusinessUnit.objects.all(), to_field_name="slug", label="Business unit"
    )

    class Meta:
        model = BusinessProcess
        fields = ["q", "business_unit"]

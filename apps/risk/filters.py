import django_filters
from django.db.models import Q
from django.utils import timezone

from apps.core.filters import YesNoFilter
from apps.inventory.models import BusinessUnit
from apps.risk.models import Mitigation, RiskRating, Tier
from apps.risk.scoring import LEVELS, RISKS

REGISTER_SORTS = {
    "model": ("assessment__model__name", "risk"),
    "-severity": ("-severity_rank", "assessment__model__name"),
    "tier": ("assessment__tier", "assessment__model__name"),
    "due": ("assessment__reassessment_due", "assessment__model__name"),
}


class RiskRegisterFilter(django_filters.FilterSet):
    """Open risks of current assessments. Serves the register page, its CSV export and the dashboard heat map links."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Model name or rationale")
    business_unit = django_filters.ModelChoiceFilter(
        field_name="assessment__model__team__business_unit", queryset=BusinessUnit.objects.all(),
        to_field_name="slug", label="Business unit")
    tier = django_filters.ChoiceFilter(field_name="assessment__tier", choices=Tier.choices, label="Model tier")
    severity = django_filters.ChoiceFilter(choices=Tier.choices, label="Risk severity")
    risk = django_filters.ChoiceFilter(choices=[(k, v[0]) for k, v in RISKS.items()])
    probability = django_filters.TypedChoiceFilter(choices=[(n, n) for n in LEVELS], coerce=int)
    impact = django_filters.TypedChoiceFilter(choices=[(n, n) for n in LEVELS], coerce=int)
    mitigation_status = django_filters.ChoiceFilter(
        field_name="mitigations__status", choices=Mitigation.Status.choices, label="Mitigation status",
        distinct=True)
    overdue = YesNoFilter(method="filter_overdue", label="Re-assessment overdue")
    sort = django_filters.ChoiceFilter(method="apply_sort", choices=[(k, k) for k in REGISTER_SORTS], label="Sort")

    class Meta:
        model = RiskRating
        fields = ["q", "business_unit", "tier", "severity", "risk", "probability", "impact", "mitigation_status",
                  "overdue", "sort"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(assessment__model__name__icontains=value) | Q(rationale__icontains=value))

    def filter_overdue(self, queryset, name, value):
        lookup = {"assessment__reassessment_due__lt": timezone.localdate()}
        return queryset.filter(**lookup) if value else queryset.exclude(**lookup)

    def apply_sort(self, queryset, name, value):
        return queryset.order_by(*REGISTER_SORTS[value])

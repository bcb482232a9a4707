import django_filters
from django.db.models import Q

from apps.compliance import evaluation as ev
from apps.compliance.models import EuCategory
from apps.inventory.models import BusinessUnit, MLModel


class ComplianceModelFilter(django_filters.FilterSet):
    """The models of the portfolio compliance page, its CSV export and the coverage API."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Model name or purpose")
    business_unit = django_filters.ModelChoiceFilter(
        field_name="team__business_unit", queryset=BusinessUnit.objects.order_by("name"), to_field_name="slug",
        label="Business unit")
    eu_category = django_filters.ChoiceFilter(
        field_name="classification__eu_category", choices=EuCategory.choices, label="EU AI Act category")
    annex_iii_area = django_filters.ChoiceFilter(
        field_name="classification__annex_iii_area", choices=list(ev.ANNEX_III_AREAS.items()), label="Annex III area")
    classified = django_filters.BooleanFilter(field_name="classification", lookup_expr="isnull", exclude=True,
                                              label="Classified")

    class Meta:
        model = MLModel
        fields = ["q", "business_unit", "eu_category", "annex_iii_area", "classified"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(purpose__icontains=value))

import django_filters
from django.db.models import Q

from apps.compliance import evaluation as ev
from apps.compliance.models import UseCase
from apps.inventory.models import BusinessUnit
from apps.risk.scoring import TIERS


class UseCaseFilter(django_filters.FilterSet):
    """The use-case list page and the use-case API."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Title, purpose or reference (UC-12)")
    state = django_filters.ChoiceFilter(choices=UseCase.State.choices, label="State")
    preliminary_tier = django_filters.ChoiceFilter(choices=[(t, t.title()) for t in TIERS], label="Preliminary tier")
    eu_category = django_filters.ChoiceFilter(choices=list(ev.EU_CATEGORIES.items()), label="EU AI Act category")
    business_unit = django_filters.ModelChoiceFilter(
        field_name="business_process__business_unit", queryset=BusinessUnit.objects.order_by("name"),
        to_field_name="slug", label="Business unit")
    registered = django_filters.BooleanFilter(field_name="model", lookup_expr="isnull", exclude=True,
                                              label="Has become a model")

    class Meta:
        model = UseCase
        fields = ["q", "state", "preliminary_tier", "eu_category", "business_unit", "registered"]

    def search(self, queryset, name, value):
        value = value.strip()
        match = Q(title__icontains=value) | Q(purpose__icontains=value)
        number = value.upper().removeprefix("UC-")
        if number.isdigit():
            match |= Q(pk=int(number))
        return queryset.filter(match)

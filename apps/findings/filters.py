import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from apps.findings import rules
from apps.findings.models import Finding, Incident
from apps.inventory.models import MLModel


class FindingFilter(django_filters.FilterSet):
    """The findings page and the findings API."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Title, description or model")
    status = django_filters.ChoiceFilter(choices=list(rules.FINDING_STATUSES.items()))
    open = django_filters.BooleanFilter(method="only_open", label="Open (not closed)")
    severity = django_filters.ChoiceFilter(choices=list(rules.SEVERITY_LABELS.items()))
    model = django_filters.ModelChoiceFilter(field_name="version__model", to_field_name="slug",
                                             queryset=MLModel.objects.order_by("name"), label="Model")
    owner = django_filters.ModelChoiceFilter(queryset=get_user_model().objects.filter(is_active=True)
                                             .order_by("username"), to_field_name="username", label="Owner")
    overdue = django_filters.BooleanFilter(method="only_overdue", label="Past due")

    class Meta:
        model = Finding
        fields = ["q", "status", "open", "severity", "model", "owner", "overdue"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value)
                               | Q(version__model__name__icontains=value))

    def only_open(self, queryset, name, value):
        return queryset.exclude(status=rules.CLOSED) if value else queryset.filter(status=rules.CLOSED)

    def only_overdue(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.exclude(status=rules.CLOSED).filter(due_date__lt=timezone.localdate())


class IncidentFilter(django_filters.FilterSet):
    """The incidents page and the incidents API."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Title, description or model")
    status = django_filters.ChoiceFilter(choices=list(rules.INCIDENT_STATUSES.items()))
    serious = django_filters.BooleanFilter(method="only_serious", label="Serious incident")
    model = django_filters.ModelChoiceFilter(field_name="model", to_field_name="slug",
                                             queryset=MLModel.objects.order_by("name"), label="Model")

    class Meta:
        model = Incident
        fields = ["q", "status", "serious", "model"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value)
                               | Q(model__name__icontains=value))

    def only_serious(self, queryset, name, value):
        return queryset.exclude(serious_kind="") if value else queryset.filter(serious_kind="")

import django_filters
from django import forms

from apps.core.models import AuditEvent
from apps.core.params import MAX_ID


class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number a key column holds, else a form error (a 400 in the API), never a 500.

    ``NumberFilter`` parses a ``Decimal``: ``1e5`` and ``1.5`` pass, and a number past the column's range
    overflows in the database.
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class AnyYesNoSelect(forms.NullBooleanSelect):
    """Django's yes/no/"Unknown" select, its empty choice named for what it filters by: anything."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]


class YesNoFilter(django_filters.BooleanFilter):
    """A yes/no filter whose unset state reads "Any", not "Unknown" (which reads like a third answer)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", AnyYesNoSelect)
        super().__init__(*args, **kwargs)


class AuditEventFilter(django_filters.FilterSet):
    """Serves both the audit page and ``/api/v1/audit-events/``."""

    q = django_filters.CharFilter(method="search", label="Search")
    actor = django_filters.CharFilter(field_name="actor_username", lookup_expr="iexact", label="Actor (username)")
    action = django_filters.CharFilter(lookup_expr="istartswith", help_text="e.g. user or user.created")
    object_type = django_filters.CharFilter(help_text="app_label.model, e.g. auth.user")
    object_id = django_filters.CharFilter()
    date_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields = ["q", "actor", "action", "object_type", "object_id", "date_from", "date_to"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(
            Q(object_repr__icontains=value) | Q(action__icontains=value) | Q(reason__icontains=value)
        )

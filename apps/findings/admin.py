"""Findings and incidents are shown read-only here: every change goes through the pages or the API, whose
services audit it and recompute the governance state (an edit in the admin would do neither)."""

from django.contrib import admin

from apps.findings.models import Finding, Incident, IncidentEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["pk", "title", "version", "severity", "status", "owner", "due_date", "closed_at"]
    list_filter = ["severity", "status"]
    search_fields = ["title", "version__model__name"]
    list_select_related = ["version__model", "owner"]


class EntryInline(admin.TabularInline):
    model = IncidentEntry
    extra = 0
    can_delete = False
    fields = ["at", "text", "author"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "title", "model", "status", "serious_kind", "aware_at", "reported_at"]
    list_filter = ["status", "serious_kind"]
    search_fields = ["title", "model__name"]
    list_select_related = ["model"]
    inlines = [EntryInline]

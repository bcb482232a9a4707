from django.contrib import admin

from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    StageTransition,
    Tag,
    Team,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The inventory is edited through the portal's forms and API, whose services write the audit trail.

    The admin shows it for support work but cannot change it silently.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MLModel)
class MLModelAdmin(ReadOnlyAdmin):
    list_display = ["name", "team", "stage", "exposure", "accountable_owner"]
    list_filter = ["stage", "exposure", "team__business_unit"]
    search_fields = ["name", "slug", "purpose"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["model", "version", "stage", "created_at"]
    list_filter = ["stage"]
    search_fields = ["model__name", "version"]


for model_class in (BusinessUnit, Team, BusinessProcess, DataSet, PipelineStep, Deployment, StageTransition, Tag):
    admin.site.register(model_class, ReadOnlyAdmin)

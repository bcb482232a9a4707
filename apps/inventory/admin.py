from django.contrib import admin

from apps.core.roles import Capability, may
from apps.inventory import services
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    GateOverride,
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


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    """Admins decide who belongs to a team (who changes its models); nothing else about it changes here."""

    list_display = ["name", "business_unit"]
    search_fields = ["name", "slug"]
    fields = ["name", "business_unit", "description", "members"]
    readonly_fields = ["name", "business_unit", "description"]
    filter_horizontal = ["members"]

    def has_change_permission(self, request, obj=None):
        return may(request.user, Capability.MANAGE_USERS)

    def save_model(self, request, obj, form, change):
        """The members are saved by ``save_related``, through the service that audits them."""

    def save_related(self, request, form, formsets, change):
        services.team_set_members(actor=request.user, team=form.instance, members=form.cleaned_data["members"],
                                  reason="Django admin")


for model_class in (BusinessUnit, BusinessProcess, DataSet, PipelineStep, Deployment, StageTransition, Tag,
                    GateOverride):
    admin.site.register(model_class, ReadOnlyAdmin)

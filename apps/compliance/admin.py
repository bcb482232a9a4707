"""Admins edit the frameworks here: start a draft version from a published one, edit its controls, publish it.

Every write goes through ``apps.compliance.services`` (audited); a published or retired version's controls are
read-only, so what was recorded against them keeps its meaning.
"""

from django.contrib import admin, messages
from django.utils import timezone

from apps.compliance import admin_intake, services  # noqa: F401  (admin_intake registers UseCase)
from apps.compliance.models import Classification, Control, Framework, FrameworkVersion
from apps.core.errors import DomainError, PermissionDeniedError


@admin.register(Framework)
class FrameworkAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "order"]
    readonly_fields = ["code", "name", "description", "order"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a framework changes through a new version of it

    def has_delete_permission(self, request, obj=None):
        return False


class ControlInline(admin.TabularInline):
    model = Control
    fields = ["code", "reference", "title", "evidence", "eu_categories", "roles", "tiers"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FrameworkVersion)
class FrameworkVersionAdmin(admin.ModelAdmin):
    list_display = ["framework", "version", "status", "published_at"]
    list_filter = ["framework", "status"]
    readonly_fields = ["framework", "version", "source", "status", "published_at"]
    inlines = [ControlInline]
    actions = ["start_draft", "publish"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # its actions call the services, which audit; nothing is edited in place

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Start a new draft version from the selected version (controls copied)")
    def start_draft(self, request, queryset):
        for source in queryset:
            label = f"{source.version}-draft-{timezone.localdate():%Y%m%d}"
            self._run(request, lambda s=source, lab=label: services.framework_version_draft(
                actor=request.user, source=s, version=lab), f"Draft {label} of {source.framework} started.")

    @admin.action(description="Publish the selected draft (retires the version in force)")
    def publish(self, request, queryset):
        for version in queryset:
            self._run(request, lambda v=version: services.framework_version_publish(actor=request.user, version=v),
                      f"{version} published.")

    def _run(self, request, call, success: str) -> None:
        try:
            call()
        except (DomainError, PermissionDeniedError) as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)


@admin.register(Control)
class ControlAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "reference", "framework_version"]
    list_filter = ["framework_version__framework", "framework_version__status"]
    search_fields = ["code", "title", "summary"]
    fields = ["framework_version", "code", "title", "reference", "summary", "evidence", "eu_categories", "roles",
              "tiers", "order"]

    def has_change_permission(self, request, obj=None):
        editable = obj is None or not obj.framework_version.frozen
        return editable and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "framework_version":
            kwargs["queryset"] = FrameworkVersion.objects.filter(status=FrameworkVersion.Status.DRAFT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.control_save(actor=request.user, control=obj)


@admin.register(Classification)
class ClassificationAdmin(admin.ModelAdmin):
    """Shown for support work; classifications change on the model's compliance page, which audits them."""

    list_display = ["model", "eu_category", "annex_iii_area", "role", "updated_at"]
    list_filter = ["eu_category", "annex_iii_area", "role"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

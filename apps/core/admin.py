from django.contrib import admin, messages

from apps.core.errors import DomainError
from apps.core.forms import AdminLoginForm
from apps.core.models import ApiToken, AuditEvent, AuditVerification
from apps.core.services import api_token_revoke


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the admin may look at the trail but never add, change or delete an event."""

    list_display = ["seq", "created_at", "actor_username", "action", "object_type", "object_id", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "action", "object_repr", "object_id"]
    ordering = ["-seq"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditVerification)
class AuditVerificationAdmin(admin.ModelAdmin):
    list_display = ["finished_at", "ok", "checked", "first_bad_seq", "triggered_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdminMixin:
    """Admin edits go through the audit trail like every other change."""

    def _snapshot(self, obj) -> dict:
        return {
            f.name: str(getattr(obj, f.attname))
            for f in obj._meta.concrete_fields
            if f.name not in {"password", "last_login"}
        }

    def save_model(self, request, obj, form, change):
        from apps.core.services import audit_record, changes_between

        before = self._snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        after = self._snapshot(obj)
        if "password" in form.changed_data:
            after["password"] = "(changed)"
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{'changed' if change else 'created'}",
            obj=obj,
            changes=changes_between(before, after),
            reason="Django admin",
        )

    def save_related(self, request, form, formsets, change):
        from apps.core.services import audit_record

        obj = form.instance
        m2m = [f.name for f in obj._meta.many_to_many if f.name in form.changed_data]
        before = {name: sorted(str(x) for x in getattr(obj, name).all()) for name in m2m}
        super().save_related(request, form, formsets, change)
        after = {name: sorted(str(x) for x in getattr(obj, name).all()) for name in m2m}
        diff = {name: [before[name], after[name]] for name in m2m if before[name] != after[name]}
        if diff:
            audit_record(
                actor=request.user,
                action=f"{obj._meta.model_name}.relations_changed",
                obj=obj,
                changes=diff,
                reason="Django admin",
            )

    def delete_model(self, request, obj):
        from apps.core.services import audit_record

        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.deleted",
            obj=obj,
            changes={k: [v, None] for k, v in self._snapshot(obj).items()},
            reason="Django admin",
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def _register_audited_auth_admin() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.admin import GroupAdmin, UserAdmin
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    admin.site.unregister(user_model)
    admin.site.unregister(Group)
    admin.site.register(user_model, type("AuditedUserAdmin", (AuditedAdminMixin, UserAdmin), {}))
    admin.site.register(Group, type("AuditedGroupAdmin", (AuditedAdminMixin, GroupAdmin), {}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins see who holds which token and revoke it; nobody sees a key (only its hash is stored, and that
    stays off the page too). Tokens are created by their owners; revoked ones are kept for the trail."""

    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at", "works"]
    list_filter = ["revoked_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name", "prefix"]
    fields = ["user", "prefix", "name", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(boolean=True, description="Works")
    def works(self, obj: ApiToken) -> bool:
        return obj.is_active()

    @admin.action(description="Revoke the selected API tokens")
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset.select_related("user"):
            try:
                api_token_revoke(actor=request.user, token=token, reason="Django admin")
                revoked += 1
            except DomainError as error:
                self.message_user(request, error.message, messages.WARNING)
        self.message_user(request, f"Revoked {revoked} API token(s).")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_register_audited_auth_admin()
# The admin's login counts failures with the portal's login lockout: one limit, whichever door is tried.
admin.site.login_form = AdminLoginForm
admin.site.site_header = "MLOps Portal administration"
admin.site.site_title = "MLOps Portal admin"
admin.site.index_title = "Users, roles, schedules and policies"

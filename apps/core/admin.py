from django.contrib import admin

from apps.core.models import AuditEvent, AuditVerification


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


_register_audited_auth_admin()
admin.site.site_header = "MLOps Portal administration"
admin.site.site_title = "MLOps Portal admin"
admin.site.index_title = "Users, roles, schedules and policies"

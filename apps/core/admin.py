from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import redirect
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from apps.core.errors import DomainError
from apps.core.forms import AdminLoginForm
from apps.core.models import ApiToken, AuditEvent, AuditVerification, ExternalIdentity
from apps.core.services import api_token_revoke, audit_record, changes_between


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
    """Admin edits go through the audit trail like every other change.

    Covers every way the admin writes: the change form (``save_model``, ``save_related``), inline formsets
    (``save_formset``), deletion (``delete_model``, ``delete_queryset``) and changelist bulk actions, which
    often write with ``queryset.update()`` and so never reach ``save_model`` (django-celery-beat's
    "enable/disable selected tasks" do).
    """

    def _snapshot(self, obj) -> dict:
        return {
            f.name: str(getattr(obj, f.attname))
            for f in obj._meta.concrete_fields
            if f.name not in {"password", "last_login"}
        }

    def _record(self, request, obj, verb: str, changes: dict, reason: str = "Django admin") -> None:
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.{verb}", obj=obj, changes=changes,
                     reason=reason)

    def save_model(self, request, obj, form, change):
        before = self._snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        after = self._snapshot(obj)
        if "password" in form.changed_data:
            after["password"] = "(changed)"
        self._record(request, obj, "changed" if change else "created", changes_between(before, after))

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        m2m = [f.name for f in obj._meta.many_to_many if f.name in form.changed_data]
        before = {name: sorted(str(x) for x in getattr(obj, name).all()) for name in m2m}
        super().save_related(request, form, formsets, change)
        after = {name: sorted(str(x) for x in getattr(obj, name).all()) for name in m2m}
        diff = {name: [before[name], after[name]] for name in m2m if before[name] != after[name]}
        if diff:
            self._record(request, obj, "relations_changed", diff)

    def save_formset(self, request, form, formset, change):
        # Validation already copied the posted values onto the instances: "before" must come from the database.
        pks = [f.instance.pk for f in formset.forms if f.instance.pk is not None]
        before = {o.pk: self._snapshot(o) for o in formset.model._default_manager.filter(pk__in=pks)}
        # Recorded before the rows go, as delete_model does: Django clears a deleted instance's primary key.
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                self._record(request, deleted.instance, "deleted", changes_between(before[deleted.instance.pk], {}))
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            self._record(request, obj, "created", changes_between({}, self._snapshot(obj)))
        for obj, _fields in formset.changed_objects:
            self._record(request, obj, "changed", changes_between(before[obj.pk], self._snapshot(obj)))

    def delete_model(self, request, obj):
        self._record(request, obj, "deleted", changes_between(self._snapshot(obj), {}))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def get_actions(self, request):
        # delete_selected already reaches delete_queryset (audited above) and first shows a confirmation page.
        return {
            name: (func if name == "delete_selected" else self._audited_action(func, name), name, description)
            for name, (func, _name, description) in super().get_actions(request).items()
        }

    def _audited_action(self, func, name: str):
        """Wrap a changelist action: one event per row it changed or deleted, or one naming the action."""

        @wraps(func)
        def run(modeladmin, request, queryset):
            model = queryset.model
            with transaction.atomic():
                before = {o.pk: (o, self._snapshot(o)) for o in model._default_manager.filter(
                    pk__in=queryset.values("pk"))}
                response = func(modeladmin, request, queryset)
                after = {o.pk: self._snapshot(o) for o in model._default_manager.filter(pk__in=list(before))}
                reason = f"Django admin action: {name}"
                changed = 0
                for pk, (obj, snapshot) in before.items():
                    diff = changes_between(snapshot, after.get(pk, {}))
                    if diff:
                        changed += 1
                        self._record(request, obj, "changed" if pk in after else "deleted", diff, reason)
                if not changed:
                    # Actions that change no row (e.g. "run selected tasks") still leave a trace of who ran them.
                    audit_record(actor=request.user, action=f"{model._meta.model_name}.admin_action",
                                 object_type=model._meta.label_lower, object_repr=name,
                                 changes={"objects": [None, sorted(str(o) for o, _s in before.values())]},
                                 reason=reason)
            return response

        return run


class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    def user_change_password(self, request, id, form_url=""):
        # The password form saves the user itself, past save_model; a redirect means it was accepted.
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                self._record(request, self.get_object(request, id), "password_changed",
                             {"password": ["(set)", "(changed)"]})
        return response


def _register_audited(model, admin_class) -> None:
    admin.site.unregister(model)
    if not issubclass(admin_class, AuditedAdminMixin):
        admin_class = type(f"Audited{admin_class.__name__}", (AuditedAdminMixin, admin_class), {"__module__": __name__})
    admin.site.register(model, admin_class)


def _audit_third_party_admins() -> None:
    """Users, groups and beat schedules are edited in the admin of the package that ships them: audit those."""
    _register_audited(get_user_model(), AuditedUserAdmin)
    for model in (Group, PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
        _register_audited(model, type(admin.site._registry[model]))


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


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Who signs in through which provider. Single sign-on creates these; an admin may move one to another
    account (say, the person's older local account, which then signs in through the provider) or delete
    it (the next sign-in then creates a new account). Both are audited."""

    list_display = ["user", "issuer", "subject", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "subject", "issuer"]
    fields = ["user", "issuer", "subject", "created_at"]
    readonly_fields = ["issuer", "subject", "created_at"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request):
        return False


def _portal_password_change(request, extra_context=None):
    """The admin's own password form knows neither the lockout nor the audit trail: use the portal's."""
    return redirect("core:password-change")


_audit_third_party_admins()
# The admin's login counts failures with the portal's login lockout: one limit, whichever door is tried.
admin.site.login_form = AdminLoginForm
admin.site.password_change = _portal_password_change
admin.site.site_header = "MLOps Portal administration"
admin.site.site_title = "MLOps Portal admin"
admin.site.index_title = "Users, roles, schedules and policies"

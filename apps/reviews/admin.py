"""Admins edit the checklists here; reviews, answers, decisions and gate overrides are shown read-only.

Editing a checklist item never rewrites it: reviews already answered it as worded. ``checklist_item_revise``
retires the row and inserts the next version; reviews opened afterwards ask the new wording.
"""

from django import forms
from django.contrib import admin
from django.db import transaction

from apps.core.errors import ConflictError, DomainError
from apps.core.services import audit_record
from apps.reviews.models import ChecklistAnswer, ChecklistItem, Review, ReviewDecision

REVISED_FIELDS = ("text", "guidance", "order")


@transaction.atomic
def checklist_item_create(*, actor, checklist: str, key: str, text: str, guidance: str = "",
                          order: int = 0) -> ChecklistItem:
    if ChecklistItem.objects.filter(checklist=checklist, key=key).exists():
        raise ConflictError(f"{checklist} already has an item {key!r}; edit it to make a new version.")
    item = ChecklistItem.objects.create(checklist=checklist, key=key, text=text, guidance=guidance, order=order)
    audit_record(actor=actor, action="checklist_item.created", obj=item,
                 changes={"key": [None, key], "text": [None, text], "version": [None, 1]})
    return item


@transaction.atomic
def checklist_item_revise(*, actor, item: ChecklistItem, text: str, guidance: str, order: int) -> ChecklistItem:
    """A new version of ``item`` with the new wording; the old row stays (inactive) for the reviews that used it."""
    current = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    if not current.active:
        raise ConflictError("Only the active version of an item can be revised.")
    new_values = {"text": text, "guidance": guidance, "order": order}
    changes = {k: [getattr(current, k), v] for k, v in new_values.items() if getattr(current, k) != v}
    if not changes:
        raise DomainError("Nothing changed; no new version was made.")
    current.active = False
    current.save(update_fields=["active"])
    revised = ChecklistItem.objects.create(checklist=current.checklist, key=current.key, version=current.version + 1,
                                           **new_values)
    audit_record(actor=actor, action="checklist_item.revised", obj=revised,
                 changes={**changes, "version": [current.version, revised.version]})
    return revised


@transaction.atomic
def checklist_item_retire(*, actor, item: ChecklistItem) -> ChecklistItem:
    """Stop asking an item in new reviews; earlier answers keep it."""
    current = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    if current.active:
        current.active = False
        current.save(update_fields=["active"])
        audit_record(actor=actor, action="checklist_item.retired", obj=current, changes={"active": [True, False]})
    return current


class ChecklistItemForm(forms.ModelForm):
    """Refuses what the services would refuse, so the admin shows it on the form."""

    class Meta:
        model = ChecklistItem
        fields = ["checklist", "key", *REVISED_FIELDS]

    def clean(self):
        cleaned = super().clean()
        item = self.instance
        if item.pk and all(cleaned.get(f) == getattr(item, f) for f in REVISED_FIELDS):
            raise forms.ValidationError("Nothing changed; no new version was made.")
        if not item.pk and ChecklistItem.objects.filter(checklist=cleaned.get("checklist"),
                                                        key=cleaned.get("key")).exists():
            raise forms.ValidationError("This checklist already has an item with that key; edit it instead.")
        return cleaned


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    form = ChecklistItemForm
    list_display = ["key", "checklist", "version", "text", "order", "active"]
    list_filter = ["checklist", "active"]
    search_fields = ["key", "text"]
    ordering = ["checklist", "order", "key", "-version"]
    actions = ["retire"]

    def get_fields(self, request, obj=None):
        return ["checklist", "key", *REVISED_FIELDS] if obj is None else [
            "checklist", "key", "version", *REVISED_FIELDS, "active", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["checklist", "key", "version", "active", "created_at"]

    def has_change_permission(self, request, obj=None):
        # Earlier versions are history: only the active row opens for editing.
        return super().has_change_permission(request, obj) and (obj is None or obj.active)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in REVISED_FIELDS}
        if change:
            saved = checklist_item_revise(actor=request.user, item=obj, **values)
        else:
            saved = checklist_item_create(actor=request.user, checklist=form.cleaned_data["checklist"],
                                          key=form.cleaned_data["key"], **values)
        # The admin redirects to (and logs) ``obj``: point it at the row the service wrote.
        obj.pk, obj.version, obj.active = saved.pk, saved.version, saved.active

    @admin.action(description="Retire the selected items (no longer asked in new reviews)")
    def retire(self, request, queryset):
        for item in queryset:
            checklist_item_retire(actor=request.user, item=item)
        self.message_user(request, f"{queryset.count()} item(s) retired.")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Changed only through the review services, which check the rules and write the audit trail."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["version", "round", "state", "required_approvals", "submitted_by", "decided_at"]
    list_filter = ["state"]
    search_fields = ["version__model__name", "version__version"]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ["review", "reviewer", "decision", "created_at"]
    list_filter = ["decision"]


@admin.register(ChecklistAnswer)
class ChecklistAnswerAdmin(ReadOnlyAdmin):
    list_display = ["review", "item", "answer"]


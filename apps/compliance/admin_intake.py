"""Use cases in the Django admin: read for support work, and withdraw through the audited service."""

from django.contrib import admin, messages

from apps.compliance import services_intake
from apps.compliance.models import UseCase
from apps.core.errors import DomainError


@admin.register(UseCase)
class UseCaseAdmin(admin.ModelAdmin):
    """Proposals change on their pages (propose, edit, submit, decide), each audited; nothing is edited here."""

    list_display = ["__str__", "state", "preliminary_tier", "eu_category", "business_process", "proposed_by",
                    "decided_by", "model"]
    list_filter = ["state", "preliminary_tier", "eu_category"]
    search_fields = ["title", "purpose"]
    list_select_related = ["business_process", "proposed_by", "decided_by", "model"]
    actions = ["withdraw"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Withdraw the selected draft or submitted use cases (audited)")
    def withdraw(self, request, queryset):
        for use_case in queryset:
            try:
                services_intake.use_case_withdraw(actor=request.user, use_case=use_case,
                                                  reason="Withdrawn by an admin.")
            except DomainError as exc:
                self.message_user(request, f"{use_case}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{use_case} was withdrawn.")

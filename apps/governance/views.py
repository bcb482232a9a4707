from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import FormView

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.governance import forms, services
from apps.inventory.models import ModelVersion, VersionGovernance


class AcceptRiskView(RoleRequiredMixin, FormView):
    """A reviewer lifts a monitoring breach's suspension for a while, with a reason (or re-approves instead)."""

    capability = Capability.ACCEPT_RISK
    form_class = forms.RiskAcceptanceForm
    template_name = "governance/accept.html"

    def dispatch(self, request, *args, **kwargs):
        self.version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=kwargs["version_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        state = VersionGovernance.objects.filter(version=self.version).first()
        return super().get_context_data(version=self.version, model=self.version.model, state=state,
                                        acceptances=self.version.risk_acceptances.select_related("accepted_by"),
                                        **kwargs)

    def form_valid(self, form):
        try:
            acceptance = services.risk_accept(actor=self.request.user, version=self.version,
                                              reason=form.cleaned_data["reason"],
                                              expires_on=form.cleaned_data["expires_on"])
        except (DomainError, PermissionDeniedError) as exc:
            form.add_error(None, exc.message)
            response = self.form_invalid(form)
            response.status_code = 403 if isinstance(exc, PermissionDeniedError) else 409
            return response
        messages.success(self.request, f"Risk accepted until {acceptance.expires_on:%d %b %Y}; the approval of "
                                       f"{self.version} holds again until then.")
        return redirect(self.version)

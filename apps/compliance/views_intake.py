"""Use-case intake pages: the list, one proposal, and its propose, edit, submit, decide and withdraw forms."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.compliance import selectors_intake as selectors
from apps.compliance import services_intake as services
from apps.compliance.forms_intake import DecisionForm, UseCaseForm, WithdrawForm
from apps.compliance.models import UseCase
from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may, require
from apps.core.selectors import audit_history_for
from apps.core.views_mixins import HtmxListMixin


def _refused(view, form, exc: DomainError):
    """A refusal as a form error, with the status an API would answer."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    response = view.form_invalid(form)
    response.status_code = exc.status_code
    return response


def _may_decide(user, use_case) -> bool:
    try:
        services.require_decider(user, use_case)
    except PermissionDeniedError:
        return False
    return True


class UseCaseListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "compliance/intake/list.html"
    partial_template_name = "compliance/intake/partials/results.html"
    object_list_name = "use_cases"

    def get_filterset(self):
        return selectors.filtered_use_cases(self.request.GET)

    def get_context_data(self, **kwargs):
        return super().get_context_data(can_propose=may(self.request.user, Capability.PROPOSE_USE_CASE), **kwargs)


class UseCaseMixin:
    """The use case of the URL, loaded once; pages that change it check the person may, before the form."""

    object_capability: Capability | None = None

    def dispatch(self, request, *args, **kwargs):
        self.use_case = get_object_or_404(selectors.use_cases(), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def check_object_permission(self, request) -> None:
        if self.object_capability is not None:
            require(request.user, self.object_capability, self.use_case)

    def get_context_data(self, **kwargs):
        return super().get_context_data(use_case=self.use_case, **kwargs)


class UseCaseDetailView(UseCaseMixin, RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "compliance/intake/detail.html"

    def get_context_data(self, **kwargs):
        user, use_case, S = self.request.user, self.use_case, UseCase.State
        proposer = may(user, Capability.PROPOSE_USE_CASE, use_case)
        return super().get_context_data(
            events=audit_history_for(use_case), object_type="compliance.usecase", object_id=str(use_case.pk),
            can_edit=proposer and use_case.state == S.DRAFT,
            can_withdraw=proposer and use_case.state in (S.DRAFT, S.SUBMITTED),
            can_decide=use_case.state == S.SUBMITTED and _may_decide(user, use_case),
            can_register=(use_case.state == S.APPROVED and use_case.model_id is None
                          and may(user, Capability.REGISTER_MODEL)),
            **kwargs)


class UseCaseProposeView(RoleRequiredMixin, FormView):
    capability = Capability.PROPOSE_USE_CASE
    template_name = "compliance/intake/form.html"
    form_class = UseCaseForm

    def get_initial(self):
        return {"business_owner": self.request.user, "role": "provider", "eu_category": "minimal"}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title="Propose a use case", submit_label="Save the draft", **kwargs)

    def form_valid(self, form):
        try:
            use_case = services.use_case_propose(actor=self.request.user, **form.service_arguments())
        except DomainError as exc:
            return _refused(self, form, exc)
        messages.success(self.request, f"{use_case} was saved as a draft (preliminary tier "
                                       f"{use_case.preliminary_tier}); submit it when it is ready for a decision.")
        return redirect(use_case)


class UseCaseEditView(UseCaseMixin, RoleRequiredMixin, FormView):
    capability = object_capability = Capability.PROPOSE_USE_CASE
    template_name = "compliance/intake/form.html"
    form_class = UseCaseForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": UseCase.objects.get(pk=self.use_case.pk)}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=f"Edit {self.use_case}", submit_label="Save the draft", **kwargs)

    def form_valid(self, form):
        try:
            use_case = services.use_case_update(actor=self.request.user, use_case=self.use_case,
                                                **form.service_arguments())
        except DomainError as exc:
            return _refused(self, form, exc)
        messages.success(self.request, f"{use_case} was saved (preliminary tier {use_case.preliminary_tier}).")
        return redirect(use_case)


class UseCaseSubmitView(UseCaseMixin, RoleRequiredMixin, View):
    """The detail page's Submit button: ask the reviewers for a decision."""

    capability = object_capability = Capability.PROPOSE_USE_CASE
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        try:
            services.use_case_submit(actor=request.user, use_case=self.use_case)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{self.use_case} was submitted; the reviewers were notified.")
        return redirect(reverse("intake:detail", kwargs={"pk": self.use_case.pk}))


class UseCaseDecideView(UseCaseMixin, RoleRequiredMixin, FormView):
    capability = Capability.DECIDE_USE_CASE
    template_name = "compliance/intake/decide.html"
    form_class = DecisionForm

    def check_object_permission(self, request) -> None:
        services.require_decider(request.user, self.use_case)

    def form_valid(self, form):
        try:
            use_case = services.use_case_decide(actor=self.request.user, use_case=self.use_case,
                                                **form.cleaned_data)
        except (DomainError, PermissionDeniedError) as exc:
            return _refused(self, form, exc)
        messages.success(self.request, f"{use_case} was {use_case.state}; the proposer was notified.")
        return redirect(use_case)


class UseCaseWithdrawView(UseCaseMixin, RoleRequiredMixin, FormView):
    capability = object_capability = Capability.PROPOSE_USE_CASE
    template_name = "compliance/intake/withdraw.html"
    form_class = WithdrawForm

    def form_valid(self, form):
        try:
            use_case = services.use_case_withdraw(actor=self.request.user, use_case=self.use_case,
                                                  reason=form.cleaned_data["reason"])
        except DomainError as exc:
            return _refused(self, form, exc)
        messages.success(self.request, f"{use_case} was withdrawn.")
        return redirect(use_case)

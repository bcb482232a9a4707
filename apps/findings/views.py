"""Pages of findings and incidents: lists with filters, detail pages, and the forms that call the services."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.generic import FormView, TemplateView

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may, require
from apps.core.views_mixins import HtmxListMixin
from apps.findings import forms, rules, selectors, services
from apps.findings.filters import FindingFilter, IncidentFilter
from apps.findings.models import Finding, Incident
from apps.inventory.models import MLModel, ModelVersion


def _refused(form, exc: DomainError):
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)
    return 403 if isinstance(exc, PermissionDeniedError) else exc.status_code


class ServiceForm(RoleRequiredMixin, FormView):
    """A form page whose valid POST calls a service; a refusal is shown on the form with its status code."""

    def call(self, data: dict):
        raise NotImplementedError

    def success_url_for(self, result) -> str:
        return result.get_absolute_url()

    success_message = "Saved."

    def form_valid(self, form):
        try:
            result = self.call(form.cleaned_data)
        except DomainError as exc:
            status = _refused(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=status)
        messages.success(self.request, self.success_message)
        return HttpResponseRedirect(self.success_url_for(result))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


# --- Findings --------------------------------------------------------------------------------------

class FindingListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "findings/finding_list.html"
    partial_template_name = "findings/partials/finding_results.html"
    object_list_name = "findings"

    def get_filterset(self):
        return FindingFilter(self.request.GET or None, queryset=selectors.findings_list().order_by("-created_at",
                                                                                                   "-pk"))

    def get_context_data(self, **kwargs):
        return super().get_context_data(today=timezone.localdate(), **kwargs)


class FindingDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "findings/finding_detail.html"

    def get_context_data(self, **kwargs):
        finding = get_object_or_404(selectors.findings_list(), pk=kwargs["pk"])
        user = self.request.user
        return super().get_context_data(
            finding=finding, today=timezone.localdate(), moves=rules.FINDING_MOVES[finding.status],
            can_edit=finding.is_open and (may(user, Capability.RAISE_FINDING)
                                          or may(user, Capability.REMEDIATE_FINDING, finding)),
            can_move=finding.is_open and (may(user, Capability.CLOSE_FINDING, finding)
                                          or may(user, Capability.REMEDIATE_FINDING, finding)),
            status_form=forms.FindingStatusForm(), **kwargs)


class FindingCreateView(ServiceForm):
    capability = Capability.RAISE_FINDING
    template_name = "findings/finding_form.html"
    form_class = forms.FindingForm
    success_message = "Finding raised; its owner has been told."

    @cached_property
    def version(self) -> ModelVersion:
        return get_object_or_404(ModelVersion.objects.select_related("model"), pk=self.kwargs["version_id"])

    def get_initial(self):
        return {"owner": self.version.model.accountable_owner_id,
                "due_date": timezone.localdate() + timedelta(days=30)}

    def get_context_data(self, **kwargs):
        return super().get_context_data(version=self.version, model=self.version.model,
                                        title=f"Raise a finding on {self.version}", **kwargs)

    def call(self, data):
        return services.finding_raise(actor=self.request.user, version=self.version, **data)


class FindingEditView(ServiceForm):
    capability = Capability.REMEDIATE_FINDING
    template_name = "findings/finding_form.html"
    success_message = "Finding saved."

    @cached_property
    def finding(self) -> Finding:
        return get_object_or_404(selectors.findings_list(), pk=self.kwargs["pk"])

    @cached_property
    def remediation_only(self) -> bool:
        return not may(self.request.user, Capability.RAISE_FINDING)

    def check_object_permission(self, request) -> None:
        if self.remediation_only:
            require(request.user, Capability.REMEDIATE_FINDING, self.finding)

    def get_form(self, form_class=None):
        return forms.FindingForm(**self.get_form_kwargs(), remediation_only=self.remediation_only)

    def get_initial(self):
        f = self.finding
        return {"title": f.title, "description": f.description, "severity": f.severity, "owner": f.owner_id,
                "due_date": f.due_date, "remediation": f.remediation}

    def get_context_data(self, **kwargs):
        return super().get_context_data(finding=self.finding, version=self.finding.version,
                                         model=self.finding.version.model, title=f"Edit {self.finding}", **kwargs)

    def call(self, data):
        return services.finding_update(actor=self.request.user, finding=self.finding, **data)


class FindingStatusView(ServiceForm):
    """POST only from the detail page's form; a GET shows the same form alone."""

    capability = Capability.REMEDIATE_FINDING
    template_name = "findings/status_form.html"
    form_class = forms.FindingStatusForm

    @cached_property
    def finding(self) -> Finding:
        return get_object_or_404(selectors.findings_list(), pk=self.kwargs["pk"])

    def check_object_permission(self, request) -> None:
        if not (may(request.user, Capability.CLOSE_FINDING, self.finding)
                or may(request.user, Capability.REMEDIATE_FINDING, self.finding)):
            require(request.user, Capability.REMEDIATE_FINDING, self.finding)

    def get_context_data(self, **kwargs):
        return super().get_context_data(subject=self.finding, title=f"Change the status of {self.finding}", **kwargs)

    def call(self, data):
        finding = services.finding_transition(actor=self.request.user, finding=self.finding, **data)
        self.success_message = f"Finding {rules.FINDING_STATUSES[finding.status].lower()}."
        return finding


# --- Incidents -------------------------------------------------------------------------------------

class IncidentListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "findings/incident_list.html"
    partial_template_name = "findings/partials/incident_results.html"
    object_list_name = "incidents"

    def get_filterset(self):
        return IncidentFilter(self.request.GET or None, queryset=selectors.incidents_list().order_by("-aware_at",
                                                                                                     "-pk"))

    def get_context_data(self, **kwargs):
        return super().get_context_data(today=timezone.localdate(), **kwargs)


class IncidentDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "findings/incident_detail.html"

    def get_context_data(self, **kwargs):
        incident = get_object_or_404(selectors.incidents_list(), pk=kwargs["pk"])
        user = self.request.user
        can_record = incident.is_open and may(user, Capability.RECORD_INCIDENT, incident.model)
        return super().get_context_data(
            incident=incident, entries=selectors.timeline(incident), today=timezone.localdate(),
            report_state=incident.report_state(timezone.localdate()), report_labels=rules.REPORT_LABELS,
            can_record=can_record, can_close=incident.is_open and may(user, Capability.CLOSE_INCIDENT),
            entry_form=forms.IncidentEntryForm(initial={"at": timezone.localtime().replace(second=0,
                                                                                            microsecond=0)}),
            status_form=forms.IncidentStatusForm(), **kwargs)


class IncidentCreateView(ServiceForm):
    capability = Capability.RECORD_INCIDENT
    template_name = "findings/incident_form.html"
    success_message = "Incident recorded; the model's accountable owner has been told."

    @cached_property
    def model(self) -> MLModel:
        return get_object_or_404(MLModel.objects.select_related("team", "accountable_owner"), slug=self.kwargs["slug"])

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.RECORD_INCIDENT, self.model)

    def get_form(self, form_class=None):
        return forms.IncidentForm(**self.get_form_kwargs(), model=self.model)

    def get_initial(self):
        now = timezone.localtime().replace(second=0, microsecond=0)
        return {"occurred_at": now, "aware_at": now}

    def get_context_data(self, **kwargs):
        return super().get_context_data(model=self.model, title=f"Record an incident of {self.model}", **kwargs)

    def call(self, data):
        return services.incident_open(actor=self.request.user, model=self.model, **data)


class IncidentEditView(ServiceForm):
    capability = Capability.RECORD_INCIDENT
    template_name = "findings/incident_form.html"
    success_message = "Incident saved."

    @cached_property
    def incident(self) -> Incident:
        return get_object_or_404(selectors.incidents_list(), pk=self.kwargs["pk"])

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.RECORD_INCIDENT, self.incident.model)

    def get_form(self, form_class=None):
        return forms.IncidentForm(**self.get_form_kwargs(), model=self.incident.model)

    def get_initial(self):
        i = self.incident
        return {name: getattr(i, name) for name in services.INCIDENT_FIELDS}

    def get_context_data(self, **kwargs):
        return super().get_context_data(model=self.incident.model, incident=self.incident,
                                        title=f"Edit {self.incident}", **kwargs)

    def call(self, data):
        return services.incident_update(actor=self.request.user, incident=self.incident, **data)


class IncidentEntryView(ServiceForm):
    capability = Capability.RECORD_INCIDENT
    template_name = "findings/status_form.html"
    form_class = forms.IncidentEntryForm
    success_message = "Added to the timeline."

    @cached_property
    def incident(self) -> Incident:
        return get_object_or_404(selectors.incidents_list(), pk=self.kwargs["pk"])

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.RECORD_INCIDENT, self.incident.model)

    def get_context_data(self, **kwargs):
        return super().get_context_data(subject=self.incident, title=f"Add to the timeline of {self.incident}",
                                        **kwargs)

    def call(self, data):
        services.incident_add_entry(actor=self.request.user, incident=self.incident, **data)
        return self.incident


class IncidentStatusView(ServiceForm):
    capability = Capability.RECORD_INCIDENT
    template_name = "findings/status_form.html"
    form_class = forms.IncidentStatusForm

    @cached_property
    def incident(self) -> Incident:
        return get_object_or_404(selectors.incidents_list(), pk=self.kwargs["pk"])

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.RECORD_INCIDENT, self.incident.model)

    def get_context_data(self, **kwargs):
        return super().get_context_data(subject=self.incident, title=f"Change the status of {self.incident}",
                                        **kwargs)

    def call(self, data):
        incident = services.incident_transition(actor=self.request.user, incident=self.incident, **data)
        self.success_message = f"Incident {incident.get_status_display().split(' (')[0].lower()}."
        return incident

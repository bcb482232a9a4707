"""Inventory pages: thin views over ``selectors`` (reads) and ``services`` (writes)."""

import copy
import csv
from functools import cached_property
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Window
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.core.csvsafe import safe_row
from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may, require
from apps.core.views_mixins import HtmxListMixin
from apps.inventory import forms, governance, intake, selectors, services
from apps.inventory.gates import GateRefused
from apps.inventory.models import MLModel, ModelVersion, Stage, Team
from apps.inventory.panels import model_panels

PAGE_SIZE = 50
# Spreadsheets run a cell starting with one of these as a formula (CSV injection).


def can_write(user) -> bool:
    return may(user, Capability.EDIT_INVENTORY)


def can_override_gate(user) -> bool:
    return may(user, Capability.OVERRIDE_GATE)


def model_write_context(user, model: MLModel) -> dict:
    """``can_write`` for a model's pages (its team, owners and admins), and for a data scientist of another
    team the reason they cannot, so the page says whom to ask instead of hiding the buttons silently."""
    try:
        require(user, Capability.EDIT_MODEL, model)
    except PermissionDeniedError as exc:
        return {"can_write": False, "write_refusal": exc.message if may(user, Capability.EDIT_MODEL) else ""}
    return {"can_write": True, "write_refusal": ""}


class KeysFirstPaginator(Paginator):
    """Finds a page's keys first, then loads only those rows with their annotations: databases otherwise
    compute the select list (subqueries, counts) of every row an OFFSET skips."""

    def page(self, number):
        page = super().page(number)
        keys = self._keys(page)
        rows = {row.pk: row for row in self.object_list.filter(pk__in=keys)}
        page.object_list = [rows[key] for key in keys]
        return page

    def _keys(self, page) -> list:
        return list(page.object_list.values_list("pk", flat=True))


MAX_SEARCH_OFFSET = 2**31


class SearchPaginator(KeysFirstPaginator):
    """For a text search, which reads every row whatever the index: the page's keys and the number of matches
    come from that one scan (``COUNT(*) OVER ()``) instead of a count and a page that each read every row.
    A page past the end falls back to counting, then shows the last page."""

    def get_page(self, number):
        try:
            wanted = max(int(number), 1)
        except (TypeError, ValueError):
            wanted = 1
        bottom = (wanted - 1) * self.per_page
        if bottom > MAX_SEARCH_OFFSET:  # past any real result, and past what an SQL OFFSET holds: count instead
            return super().get_page(number)
        found = list(self.object_list.annotate(matches=Window(Count("pk"))).values_list("pk", "matches")
                     [bottom:bottom + self.per_page])
        if found:
            self.__dict__["count"] = found[0][1]  # Paginator.count is a cached property
            self._found = (wanted, [pk for pk, _ in found])
        return super().get_page(number)

    def _keys(self, page) -> list:
        wanted, keys = getattr(self, "_found", (None, None))
        return keys if wanted == page.number else super()._keys(page)


class ListPageMixin(RoleRequiredMixin, HtmxListMixin):
    """An inventory list: the core list behaviour, readable by every role, with the writers' buttons."""

    capability = Capability.VIEW_PORTFOLIO
    paginate_by = PAGE_SIZE

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "can_write": can_write(self.request.user)}


class IndexView(ListPageMixin, TemplateView):
    @property
    def paginator_class(self):
        return SearchPaginator if self.request.GET.get("q", "").strip() else KeysFirstPaginator

    template_name = "inventory/index.html"
    partial_template_name = "inventory/partials/model_table.html"
    object_list_name = "models"

    def get_filterset(self):
        return selectors.models_for_list(self.request.GET)


class ExportView(RoleRequiredMixin, View):
    """The model list as CSV, with the same filters as the page."""

    capability = Capability.VIEW_PORTFOLIO
    HEADER = ["slug", "name", "business_unit", "team", "stage", "governance", "health", "approval", "tier",
              "reason_codes", "exposure", "automation_level", "task_type",
              "accountable_owner", "owner_active", "technical_owners", "business_processes", "tags",
              "latest_version", "active_deployments", "environment_mismatch", "purpose", "updated_at"]

    def get(self, request):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = f'attachment; filename="model-inventory-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(self.HEADER)
        for model in selectors.models_for_export(request.GET):
            writer.writerow(safe_row(self.row(model)))
        return response

    @staticmethod
    def row(model: MLModel) -> list:
        return [
            model.slug, model.name, model.team.business_unit.name, model.team.name, model.stage,
            *ExportView.governance(model), model.exposure,
            model.automation_level, model.task_type, model.accountable_owner.get_username(),
            model.accountable_owner.is_active,
            ";".join(sorted(u.get_username() for u in model.technical_owners.all())),
            ";".join(sorted(p.slug for p in model.business_processes.all())),
            ";".join(sorted(t.name for t in model.tags.all())),
            model.latest_version or "", model.active_deployments, model.env_mismatch, model.purpose,
            model.updated_at.isoformat(),
        ]

    @staticmethod
    def governance(model: MLModel) -> list[str]:
        """The stored state, in the values the list's filters take (tier "unassessed"); blank before the first
        computation."""
        state = selectors.stored_governance(model)
        if state is None:
            return [""] * 5
        return [state.status, state.health, state.approval, state.tier or "unassessed", ";".join(state.codes)]


class ModelDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/model_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        model = selectors.model_detail(slug=kwargs["slug"])
        versions = list(model.versions.all())
        context.update(
            model=model,
            versions=versions,
            deployments=selectors.model_deployments(model),
            **model_write_context(self.request.user, model),
            **model_panels(model, versions),
        )
        return context


class VersionDetailView(RoleRequiredMixin, TemplateView):
    """A version's facts and history; writers move its stage from here (POST)."""

    capability = Capability.VIEW_PORTFOLIO
    post_capability = Capability.EDIT_MODEL
    template_name = "inventory/version_detail.html"

    @cached_property
    def version(self) -> ModelVersion:
        return selectors.version_detail(slug=self.kwargs["slug"], version=self.kwargs["version"])

    def get_context_data(self, form=None, gate_refusal=None, **kwargs):
        context = super().get_context_data(**kwargs)
        version = self.version
        access = model_write_context(self.request.user, version.model)
        if form is None and access["can_write"]:
            form = forms.StageTransitionForm(current=version.stage, allow_override=can_override_gate(self.request.user))
        state = selectors.stored_governance(version)
        context.update(version=version, model=version.model, stage_form=form, **access,
                       deployments=selectors.active_first(version.deployments.all()),
                       is_retired=version.stage == Stage.RETIRED, state=state,
                       # The stored answer the gate gives (it recomputes, then reads the same blockers).
                       ready_for_production=state is not None and state.gate_open,
                       gate_blockers=selectors.gate_blockers(version), gate_refusal=gate_refusal,
                       registry_links=version.registry_links.order_by("registry", "name"))
        return context

    def check_object_permission(self, request) -> None:
        if request.method == "POST":
            require(request.user, Capability.EDIT_MODEL, self.version.model)

    def post(self, request, *args, **kwargs):
        version = self.version
        form = forms.StageTransitionForm(request.POST, current=version.stage,
                                         allow_override=can_override_gate(request.user))
        status, refusal = 400, None
        if form.is_valid():
            try:
                services.version_transition(actor=request.user, version=version, **form.service_arguments())
            except DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status_code  # 409 when the production gate or the stage refuses
                refusal = exc if isinstance(exc, GateRefused) else None
            else:
                messages.success(request, f"{version} moved to {Stage(form.cleaned_data['stage']).label}.")
                return HttpResponseRedirect(version.get_absolute_url())
        return self.render_to_response(self.get_context_data(form=form, gate_refusal=refusal, **kwargs),
                                       status=status)


def add_domain_error(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class ServiceFormView(RoleRequiredMixin, FormView):
    """A form whose valid input goes to one service; a DomainError becomes a form error, nothing is saved."""

    capability = Capability.EDIT_INVENTORY
    template_name = "inventory/form.html"
    title = ""
    lead = ""
    submit_label = "Save"
    success_message = "{obj} was saved."

    def perform(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            obj = self.perform(form)
        except DomainError as exc:
            add_domain_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message.format(obj=obj))
        return HttpResponseRedirect(self.get_success_url_for(obj))

    def get_success_url_for(self, obj) -> str:
        return obj.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=self.title, lead=self.lead, submit_label=self.submit_label,
                       cancel_url=self.get_cancel_url())
        return context

    def get_cancel_url(self) -> str:
        raise NotImplementedError


class ModelCreateView(ServiceFormView):
    capability = Capability.REGISTER_MODEL
    form_class = forms.MLModelRegisterForm
    title = "Register a model"
    lead = ("Add a model the organisation builds or runs, from the approved use case it serves. You can add "
            "versions and deployments once it exists.")
    submit_label = "Register model"
    success_message = "{obj} was registered."

    def get_initial(self):
        initial = {"accountable_owner": self.request.user, "technical_owners": [self.request.user]}
        source = intake.provider()
        if source is not None and self.request.GET.get("use_case"):
            initial.update(source.initial(self.request.GET["use_case"]))
        return initial

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "teams": selectors.teams_for_registration(self.request.user)}

    def perform(self, form):
        return services.model_register(actor=self.request.user, **form.service_arguments())

    def get_cancel_url(self):
        return reverse("inventory:index")


class ModelEditView(ServiceFormView):
    capability = Capability.EDIT_MODEL
    form_class = forms.MLModelEditForm
    submit_label = "Save changes"
    success_message = "{obj} was updated."

    @cached_property
    def model(self) -> MLModel:
        return get_object_or_404(MLModel, slug=self.kwargs["slug"])

    @property
    def title(self):
        return f"Edit {self.model}"

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.EDIT_MODEL, self.model)

    def get_form_kwargs(self):
        # The model may move to another of the user's teams, or stay in its own.
        teams = selectors.teams_for_registration(self.request.user) | Team.objects.filter(pk=self.model.team_id)
        # A copy: validating the form writes the input onto its instance, and the page title shows the saved name.
        return {**super().get_form_kwargs(), "instance": copy.copy(self.model), "teams": teams.distinct()}

    def perform(self, form):
        return services.model_update(actor=self.request.user, model=self.model, **form.service_arguments())

    def get_cancel_url(self):
        return self.model.get_absolute_url()


class VersionCreateView(ServiceFormView):
    capability = Capability.EDIT_MODEL
    form_class = forms.VersionForm
    submit_label = "Register version"
    success_message = "Version {obj.version} of {obj.model} was registered."
    lead = ("A trained artefact of the model: the data it learnt from, how it was trained and the environment "
            "it was validated in. It starts in Development.")

    @cached_property
    def model(self) -> MLModel:
        return get_object_or_404(MLModel, slug=self.kwargs["slug"])

    @property
    def title(self):
        return f"New version of {self.model}"

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.EDIT_MODEL, self.model)

    def perform(self, form):
        return services.version_create(actor=self.request.user, model=self.model, **form.service_arguments())

    def get_cancel_url(self):
        return self.model.get_absolute_url()


class DeploymentCreateView(ServiceFormView):
    capability = Capability.EDIT_MODEL
    form_class = forms.DeploymentForm
    submit_label = "Record deployment"
    success_message = "The deployment of {obj.version} to {obj.target} was recorded."
    lead = ("Where this version runs. The portal compares the runtime environment with the one the version was "
            "validated in and flags differences that can change its behaviour.")

    @cached_property
    def version(self) -> ModelVersion:
        return get_object_or_404(ModelVersion.objects.select_related("model"), model__slug=self.kwargs["slug"],
                                 version=self.kwargs["version"])

    @property
    def title(self):
        return f"Deploy {self.version}"

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.EDIT_MODEL, self.version.model)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "allow_override": can_override_gate(self.request.user)}

    gate_refusal: GateRefused | None = None

    def get_context_data(self, **kwargs):
        context = {**super().get_context_data(**kwargs), "validated_environment": self.version.validated_environment}
        if self.gate_refusal is not None:
            context.update(gate_refusal=self.gate_refusal, refused_version=self.version,
                           refused_state=selectors.stored_governance(self.version))
        return context

    def perform(self, form):
        try:
            deployment = services.deployment_create(actor=self.request.user, version=self.version,
                                                    **form.service_arguments())
        except GateRefused as exc:
            self.gate_refusal = exc  # the page leads with a banner of the missing steps
            raise
        if deployment.environment_mismatch:
            messages.warning(self.request, "The runtime environment differs from the validated one: "
                             + "; ".join(f"{d['component']} validated {d['validated']}, runs {d['runtime']}"
                                         for d in deployment.mismatch_details))
        return deployment

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if self.gate_refusal is not None:
            response.status_code = self.gate_refusal.status_code  # 409, as on the version page
        return response

    def get_success_url_for(self, obj) -> str:
        return self.version.get_absolute_url()

    def get_cancel_url(self):
        return self.version.get_absolute_url()


class DataSetCreateView(ServiceFormView):
    form_class = forms.DataSetForm
    title = "Register a data set"
    lead = "A versioned snapshot of data: where it comes from, who owns it and whether it holds personal data."
    submit_label = "Register data set"
    success_message = "Data set {obj} was registered."

    def perform(self, form):
        return services.dataset_create(actor=self.request.user, **form.service_arguments())

    def get_cancel_url(self):
        return reverse("inventory:dataset-list")


class ProcessCreateView(ServiceFormView):
    form_class = forms.ProcessForm
    title = "Add a business process"
    lead = "A business decision that models automate or support, and what it is worth."
    submit_label = "Add process"
    success_message = "Business process {obj} was added."

    def perform(self, form):
        return services.process_create(actor=self.request.user, **form.service_arguments())

    def get_cancel_url(self):
        return reverse("inventory:process-list")


class DataSetListView(ListPageMixin, TemplateView):
    template_name = "inventory/dataset_list.html"
    partial_template_name = "inventory/partials/dataset_table.html"
    object_list_name = "datasets"

    def get_filterset(self):
        return selectors.datasets_for_list(self.request.GET)


class DataSetDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/dataset_detail.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "dataset": selectors.dataset_detail(slug=kwargs["slug"])}


class ProcessListView(ListPageMixin, TemplateView):
    template_name = "inventory/process_list.html"
    partial_template_name = "inventory/partials/process_table.html"
    object_list_name = "processes"

    def get_filterset(self):
        return selectors.processes_for_list(self.request.GET)


class ProcessDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/process_detail.html"

    paginate_by = 50

    def get_context_data(self, **kwargs):
        process = selectors.process_detail(slug=kwargs["slug"])
        models = selectors.process_models(process)
        rollup, not_computed = selectors.process_rollup(models)
        page = Paginator(models, self.paginate_by).get_page(self.request.GET.get("page"))
        return {**super().get_context_data(**kwargs), "process": process, "page_obj": page,
                "rows": selectors.with_serving_deployments(page.object_list, process),
                "model_count": page.paginator.count, "rollup": rollup,
                "rollup_links": rollup_links(rollup, process=process.slug), "not_computed": not_computed,
                "money_at_risk": selectors.process_money_at_risk(process)}


def rollup_links(rollup: governance.Rollup, **filters) -> list[dict]:
    """Each status's count, linked to the model list filtered the same way, so the list shows that many models."""
    index = reverse("inventory:index")
    return [{"status": status, "label": governance.STATUS_LABELS[status], "count": count,
             "url": f"{index}?{urlencode({**filters, 'governance': status})}"}
            for status, count in rollup.counts.items()]

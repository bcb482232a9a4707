"""MLflow servers, for admins: connect one, test it, sync it now, and read each sync's log."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.core.errors import DomainError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.core.views_mixins import HtmxListMixin
from apps.integrations import selectors, services
from apps.integrations.forms import ServerForm
from apps.integrations.models import MlflowServer, SyncRun


class ServerListView(RoleRequiredMixin, TemplateView):
    capability = Capability.MANAGE_INTEGRATIONS
    template_name = "integrations/server_list.html"

    def get_context_data(self, **kwargs):
        rows = [(server, selectors.last_run(server)) for server in selectors.servers()]
        return super().get_context_data(rows=rows, production_aliases=settings.PORTAL_MLFLOW_PRODUCTION_ALIASES,
                                        **kwargs)


class ServerCreateView(RoleRequiredMixin, FormView):
    capability = Capability.MANAGE_INTEGRATIONS
    form_class = ServerForm
    template_name = "integrations/server_form.html"

    def form_valid(self, form):
        try:
            server = services.server_create(actor=self.request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status_code)
        messages.success(self.request, f"{server} is connected. Test the connection, then sync it.")
        return redirect(server)


class ServerMixin(RoleRequiredMixin):
    capability = Capability.MANAGE_INTEGRATIONS

    @cached_property
    def server(self) -> MlflowServer:
        # Looked up after the role and method checks: nobody learns which ids exist.
        return get_object_or_404(MlflowServer.objects.select_related("team", "owner"), pk=self.kwargs["pk"])


class ServerDetailView(ServerMixin, HtmxListMixin, TemplateView):
    """A server, its open conflicts and its sync runs (the log)."""

    template_name = "integrations/server_detail.html"
    partial_template_name = "integrations/partials/run_list.html"
    object_list_name = "runs"

    def get_queryset(self):
        return selectors.runs(server=self.server)

    def get_context_data(self, **kwargs):
        return super().get_context_data(server=self.server, conflicts=selectors.open_conflicts(self.server)[:200],
                                        **kwargs)


class ServerTestView(ServerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        try:
            messages.success(request, services.server_test(actor=request.user, server=self.server))
        except DomainError as exc:
            messages.error(request, f"The connection test failed: {exc.message}")
        return redirect(self.server)


class ServerSyncView(ServerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        try:
            run = services.sync_request(actor=request.user, server=self.server)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(self.server)
        messages.success(request, f"Sync {run.pk} is queued; its counts and errors appear in the log below.")
        return redirect(self.server)


class ServerDeleteView(ServerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        services.server_delete(actor=request.user, server=self.server)
        messages.success(request, f"{self.server} is disconnected. Its models stay in the inventory.")
        return redirect("integrations:servers")


class RunDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.MANAGE_INTEGRATIONS
    template_name = "integrations/run_detail.html"

    def get_context_data(self, **kwargs):
        run = get_object_or_404(SyncRun.objects.select_related("server", "requested_by"), pk=self.kwargs["pk"])
        return super().get_context_data(run=run, **kwargs)

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse_lazy
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from apps.core import selectors, services
from apps.core.errors import DomainError
from apps.core.forms import ApiTokenForm, LoginForm, PasswordChangeWithLockoutForm
from apps.core.models import ApiToken, AuditEvent
from apps.core.navigation import start_page
from apps.core.params import InvalidParameter
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, Role, user_roles
from apps.core.views_mixins import HtmxListMixin, is_htmx

AUDIT_PAGE_SIZE = 50


class LoginView(auth_views.LoginView):
    """Django's login; a person who asked for no page in particular (or for the home page) lands on their role's
    start page (``navigation.START_PAGES``): the executive on the portfolio dashboard, a reviewer on the queue."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_success_url(self):
        asked = self.get_redirect_url()
        if asked and asked != resolve_url(settings.LOGIN_REDIRECT_URL):
            return asked
        return start_page(self.request.user)


class HomeView(RoleRequiredMixin, TemplateView):
    """One landing page whose sections follow the user's roles."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "core/home.html"

    def get_context_data(self, **kwargs):
        roles = user_roles(self.request.user)
        context = super().get_context_data(**kwargs)
        context.update(
            is_executive=Role.EXECUTIVE in roles,
            is_reviewer=Role.REVIEWER in roles,
            is_scientist=Role.DATA_SCIENTIST in roles,
            is_admin=Role.ADMIN in roles,
            recent_events=AuditEvent.objects.select_related("actor").order_by("-seq")[:8],
        )
        if context["is_admin"]:
            context.update(last_verification=selectors.last_audit_verification(),
                           anchor=selectors.audit_anchor_status())
        return context


class AuditListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "core/audit_list.html"
    partial_template_name = "core/partials/audit_table.html"
    object_list_name = "events"
    paginate_by = AUDIT_PAGE_SIZE

    def get_filterset(self):
        return selectors.audit_events(filters=self.request.GET)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if not is_htmx(self.request):  # the header above the results
            context["last_verification"] = selectors.last_audit_verification()
        return context


class AccountView(RoleRequiredMixin, TemplateView):
    """The signed-in user's roles, API tokens and own audit history."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "core/account.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tokens"] = selectors.api_tokens_of(user=self.request.user)
        context["token_form"] = ApiTokenForm()
        context["token_days"] = settings.PORTAL_API_TOKEN_DAYS
        context["new_token"] = self.request.session.pop("new_api_token", None)
        return context


class ApiTokenCreateView(RoleRequiredMixin, View):
    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["post"]

    def post(self, request):
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(form.errors["name"]))
            return redirect("core:account")
        issued = services.api_token_issue(user=request.user, name=form.cleaned_data["name"])
        # Shown once on the next page, never stored in the page's URL or logs.
        request.session["new_api_token"] = issued.key
        messages.success(request, "A new API token was created. Copy it now: it is not shown again.")
        return redirect("core:account")


class ApiTokenRevokeView(RoleRequiredMixin, View):
    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["post"]

    def post(self, request):
        token_id = request.POST.get("token", "")
        if not token_id.isascii() or not token_id.isdigit():
            return HttpResponseBadRequest("Choose the token to revoke.")
        # Someone else's token is "not found", never "forbidden": the answer must not confirm it exists.
        token = get_object_or_404(ApiToken, pk=int(token_id), user=request.user)
        try:
            services.api_token_revoke(actor=request.user, token=token, reason="Revoked on the account page")
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{token} is revoked; scripts using it now get 401.")
        return redirect("core:account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in the portal's layout, audited; wrong current passwords count as failed logins.

    Open to every signed-in person, also one without a role yet: a first password set by an
    administrator should be replaced before anything else.
    """

    http_method_names = ["get", "post", "head", "options"]
    form_class = PasswordChangeWithLockoutForm
    template_name = "core/password_change.html"
    success_url = reverse_lazy("core:account")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        services.user_password_change(user=self.request.user, password=form.cleaned_data["new_password1"])
        # Keeps this session signed in; every other session of the user ends.
        update_session_auth_hash(self.request, self.request.user)
        messages.success(self.request, "Your password was changed. Other sessions were signed out.")
        return redirect(self.success_url)


@login_not_required
@require_safe
def healthz(request):
    """Liveness for load balancers and docker-compose: the process answers and the database responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "database unavailable"}, status=503)


@login_not_required
def favicon(request):
    # Resolved per request: with the manifest storage the hashed name exists only after collectstatic.
    from django.templatetags.static import static

    return redirect(static("img/favicon.svg"), permanent=False)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    # Only our own refusals carry a message meant for the user; Django's (a bad Host header) stay generic.
    message = exception.message if isinstance(exception, InvalidParameter) else "The request could not be read."
    if _is_api(request):
        body = {"detail": message}
        if isinstance(exception, InvalidParameter):
            body["field"] = exception.field
        return JsonResponse(body, status=400)
    return render(request, "400.html", {"message": message}, status=400)


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else "You do not have access to this page."
    if _is_api(request):
        return JsonResponse({"detail": message}, status=403)
    return render(request, "403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    if _is_api(request):
        # An API client gets the body DRF gives for an unknown object, also for a URL no route matches.
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if _is_api(request):
        # An API client parses every answer as JSON, a failure included; the request id finds it in the log.
        return JsonResponse({"detail": "The server failed to answer; the error was logged.",
                             "request_id": getattr(request, "request_id", "")}, status=500)
    return render(request, "500.html", status=500)

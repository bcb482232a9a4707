from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from apps.core import selectors, services
from apps.core.models import AuditEvent
from apps.core.params import InvalidParameter
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import ALL_ROLES, Role, user_roles

AUDIT_PAGE_SIZE = 50


class HomeView(RoleRequiredMixin, TemplateView):
    """One landing page whose sections follow the user's roles."""

    allowed_roles = ALL_ROLES
    template_name = "core/home.html"

    def get_context_data(self, **kwargs):
        roles = user_roles(self.request.user)
        context = super().get_context_data(**kwargs)
        context.update(
            is_executive=Role.EXECUTIVE in roles,
            is_reviewer=Role.REVIEWER in roles,
            is_scientist=Role.DATA_SCIENTIST in roles,
            is_admin=Role.ADMIN in roles,
            recent_events=AuditEvent.objects.order_by("-seq")[:8],
        )
        if context["is_admin"]:
            context.update(last_verification=selectors.last_audit_verification(),
                           anchor=selectors.audit_anchor_status())
        return context


class AuditListView(RoleRequiredMixin, TemplateView):
    allowed_roles = ALL_ROLES
    template_name = "core/audit_list.html"

    def get_context_data(self, **kwargs):
        from django.core.paginator import Paginator

        context = super().get_context_data(**kwargs)
        filterset = selectors.audit_events(filters=self.request.GET)
        page = Paginator(filterset.qs, AUDIT_PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter=filterset,
            page_obj=page,
            events=page.object_list,
            querystring=query.urlencode(),
            filtered=any(v for k, v in self.request.GET.items() if k != "page"),
            last_verification=selectors.last_audit_verification(),
        )
        return context

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["core/partials/audit_table.html"]
        return [self.template_name]


class AccountView(RoleRequiredMixin, TemplateView):
    """The signed-in user's roles, API token and own audit history."""

    allowed_roles = ALL_ROLES
    template_name = "core/account.html"

    def get_context_data(self, **kwargs):
        from rest_framework.authtoken.models import Token

        context = super().get_context_data(**kwargs)
        context["has_token"] = Token.objects.filter(user=self.request.user).exists()
        context["new_token"] = self.request.session.pop("new_api_token", None)
        return context


class ApiTokenRotateView(RoleRequiredMixin, View):
    allowed_roles = ALL_ROLES
    http_method_names = ["post"]

    def post(self, request):
        token = services.api_token_issue(user=request.user, rotate=True)
        # Shown once on the next page, never stored in the page's URL or logs.
        request.session["new_api_token"] = token.key
        messages.success(request, "A new API token was created. Any previous token no longer works.")
        return redirect("core:account")


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

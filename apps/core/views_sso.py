"""Sign-in pages: the login page with its single sign-on button, the provider's round trip, logout.

The OpenID Connect flow itself is mozilla-django-oidc's (``apps.core.sso``); these views add what the portal
promises around it: the same audit events as a password sign-in, the failure lockout, a page saying why a
sign-in failed or why it brought no role, and logout at the provider when asked for.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.generic import TemplateView
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.core import services
from apps.core.navigation import start_page
from apps.core.roles import Role, user_roles
from apps.core.sso import METHOD_OIDC, ProviderUnreachable, SsoLockout, oidc_setting
from apps.core.views import LoginView

NOT_CONFIGURED = "Single sign-on is not configured on this portal. Sign in with your username and password."
LOCKED = ("Too many failed single sign-on attempts from your network. Try again in {minutes} minutes, or ask an "
          "administrator.")


def sso_context() -> dict:
    return {"sso_enabled": settings.PORTAL_OIDC_ENABLED, "sso_provider": settings.PORTAL_OIDC_PROVIDER_NAME,
            "local_login": settings.PORTAL_LOCAL_LOGIN}


class PortalLoginView(LoginView):
    """The login page (landing each role on its start page), offering "Sign in with <provider>" when single
    sign-on is configured and hiding the password form when ``PORTAL_LOCAL_LOGIN`` is false (``LoginForm``
    then refuses every password)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sso_context()}


def _refuse(request, reason: str, *, status: int = 403, lockout: SsoLockout | None = None):
    """Audit a failed single sign-on, count it against the address, and say why on a page."""
    if lockout is not None:
        lockout.fail()
    services.login_record_failure(method=METHOD_OIDC, reason=reason)
    return render(request, "core/sso_failed.html", {"reason": reason, **sso_context()}, status=status)


@method_decorator(login_not_required, name="dispatch")
class SsoStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with a fresh state, nonce and PKCE challenge kept in the session."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # The base class reads the provider's endpoint here; discovery may need the network, so it waits for get.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not settings.PORTAL_OIDC_ENABLED:
            messages.info(request, NOT_CONFIGURED)
            return redirect("login")
        lockout = SsoLockout(request)
        if lockout.locked():
            minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
            return render(request, "core/sso_failed.html", {"reason": LOCKED.format(minutes=minutes),
                                                            **sso_context()}, status=429)
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnreachable as exc:
            return _refuse(request, str(exc), status=502, lockout=lockout)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class SsoCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back. Each state is used once: a replayed, forged or foreign
    answer is refused before anything is sent to the provider. Success and failure are audited like a
    password sign-in (``auth.login_succeeded`` / ``auth.login_failed``, method ``oidc``)."""

    get_settings = staticmethod(oidc_setting)

    @property
    def success_url(self):
        """The page asked for before signing in, else the role's start page (as after a password sign-in)."""
        asked = self.request.session.get("oidc_login_next")
        if asked and asked != resolve_url(settings.LOGIN_REDIRECT_URL):
            return asked
        return start_page(self.request.user)

    def get(self, request):
        if not settings.PORTAL_OIDC_ENABLED:
            messages.info(request, NOT_CONFIGURED)
            return redirect("login")
        self.lockout = SsoLockout(request)
        if self.lockout.locked():
            minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
            return render(request, "core/sso_failed.html", {"reason": LOCKED.format(minutes=minutes),
                                                            **sso_context()}, status=429)
        # Checked before anything else, so that text a stranger puts in the URL (an error description) never
        # reaches the audit trail: only the provider, answering a sign-in this browser started, is quoted.
        if request.GET.get("state") not in (request.session.get("oidc_states") or {}):
            return _refuse(request, "The answer from the identity provider matches no sign-in started in this "
                           "browser (unknown or already used state): it was replayed or forged, or the browser "
                           "lost its session. Start again from the login page.", lockout=self.lockout)
        return super().get(request)

    def login_failure(self):
        request = self.request
        backend = getattr(request, "sso_backend", None)
        if request.GET.get("error"):
            reason = f"The identity provider refused the sign-in: {request.GET['error'][:64]}"
            if request.GET.get("error_description"):
                reason += f" ({' '.join(request.GET['error_description'].split())[:300]})"
        elif backend is not None and backend.failure is not None:
            reason = f"The identity provider's answer was refused: {backend.failure.reason}"
        elif getattr(self, "user", None) is not None:
            reason = "This account is deactivated. Ask an administrator."
        else:
            reason = "The sign-in answer carried no code and state. Start again from the login page."
        return _refuse(request, reason, lockout=self.lockout)

    def login_success(self):
        response = super().login_success()
        backend = self.request.sso_backend
        roles = sorted(role.value for role in backend.signed_in_roles)
        services.login_record_success(
            user=self.user, method=METHOD_OIDC,
            note=f"groups {backend.groups or '(none)'} mapped to roles {roles or '(none)'}")
        self.request.session["sso_groups"] = backend.groups[:50]
        if not user_roles(self.user):
            return redirect("sso-no-role")
        return response


class SsoNoRoleView(TemplateView):
    """Said to a person whose sign-in worked but whose groups map to no portal role."""

    template_name = "core/sso_no_role.html"

    def get(self, request, *args, **kwargs):
        if user_roles(request.user):
            return redirect("core:home")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        labels = {role.value: role.label for role in Role}
        mapping = [(group, [labels.get(role, role) for role in roles])
                   for group, roles in settings.PORTAL_OIDC_ROLE_MAP.items()]
        return {**super().get_context_data(**kwargs), **sso_context(),
                "groups": self.request.session.get("sso_groups", []), "mapping": mapping,
                "claim": settings.PORTAL_OIDC_ROLE_CLAIM}


class PortalLogoutView(auth_views.LogoutView):
    """Ends the portal's session and, with ``PORTAL_OIDC_LOGOUT_AT_PROVIDER``, the provider's too."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token")
        response = super().post(request, *args, **kwargs)
        if not (settings.PORTAL_OIDC_LOGOUT_AT_PROVIDER and id_token):
            return response
        try:
            end_session = oidc_setting("PORTAL_OIDC_END_SESSION_ENDPOINT", "")
        except ProviderUnreachable:
            return response  # the portal's session is over; the provider's cannot be ended now
        if not end_session:
            return response
        query = urlencode({"id_token_hint": id_token, "client_id": settings.OIDC_RP_CLIENT_ID,
                           "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))})
        return HttpResponseRedirect(f"{end_session}?{query}")

"""Access checks for pages and API endpoints, in one place.

Every page view inherits ``RoleRequiredMixin`` and states ``allowed_roles``;
every API view is checked by ``RolePermission`` (the DRF default) against its
``read_roles`` and ``write_roles``. Whether a role may change a given object (another team's model) is
decided by the services with the functions of ``apps.core.roles``; pages that change one object call the
same function from ``check_object_permission`` so they refuse before showing a form. A view that states
nothing admits no one, so a forgotten declaration fails closed (and the role-matrix test notices).
"""

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from apps.core import selectors, services
from apps.core.client_ip import client_ip
from apps.core.errors import PermissionDeniedError
from apps.core.models import ApiToken
from apps.core.roles import ALL_ROLES, user_roles


class AnonThrottle(AnonRateThrottle):
    """DRF's anonymous throttle, keyed on the address ``client_ip`` trusts (not on X-Forwarded-For)."""

    def get_ident(self, request):
        return client_ip(request)


class UserThrottle(UserRateThrottle):
    """DRF's per-user throttle; callers without a user are keyed like ``AnonThrottle``."""

    def get_ident(self, request):
        return client_ip(request)


class RoleRequiredMixin(AccessMixin):
    allowed_roles: frozenset = frozenset()
    # Pages read with GET and change with POST. Django's FormView would also run a PUT through the form.
    http_method_names = ["get", "post", "head", "options"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not user_roles(request.user) & self.allowed_roles:
            raise PermissionDenied("Your role does not allow this page. Ask an administrator if you need it.")
        try:
            self.check_object_permission(request)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        return super().dispatch(request, *args, **kwargs)

    def check_object_permission(self, request) -> None:
        """Pages that change one object raise PermissionDeniedError here when the role may act but not on
        this object (another team's model): the page answers 403 with the service's message."""


class RolePermission(BasePermission):
    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            # DRF checks permissions before throttles, so a caller guessing tokens would never be slowed
            # down; count unauthenticated calls here.
            throttle = AnonThrottle()
            if not throttle.allow_request(request, view):
                raise Throttled(wait=throttle.wait())
            return False
        roles = user_roles(request.user)
        if not roles:
            return False
        if request.method in SAFE_METHODS:
            return bool(roles & getattr(view, "read_roles", ALL_ROLES))
        return bool(roles & getattr(view, "write_roles", frozenset()))


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` against the portal's API tokens, of which only a hash is stored.

    A token works until it is revoked or expires, and only while its user is active. Failures count
    against the anonymous throttle: a wrong token fails authentication before any permission or
    throttle runs, so without this a caller could guess tokens as fast as the server answers.
    """

    model = ApiToken

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # The Django request: asking the DRF request for its user would authenticate again.
            throttle = AnonThrottle()
            if not throttle.allow_request(request._request, None):
                raise Throttled(wait=throttle.wait()) from None
            raise

    def authenticate_credentials(self, key):
        token = selectors.api_token_for_key(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed(
                f"This token was revoked on {token.revoked_at:%Y-%m-%d}. Create a new one on your account page.")
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationFailed(
                f"This token expired on {token.expires_at:%Y-%m-%d}. Create a new one on your account page.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        services.api_token_mark_used(token=token, now=now)
        return token.user, token

"""Access checks for pages and API endpoints, in one place.

Every page view inherits ``RoleRequiredMixin`` and states the ``capability`` it needs (and a
``post_capability`` when every role reads the page but only some change something from it); every API view
is checked by ``RolePermission`` (the DRF default) against its ``read_capability`` and ``write_capability``.
Who holds a capability is declared once, in ``apps.core.roles.CAPABILITIES``. Whether a role may act on a
given object (another team's model) is decided by the services with ``require(user, capability, obj)``;
pages that change one object ask the same from ``check_object_permission`` so they refuse before showing a
form. A view that states nothing admits no one, so a forgotten declaration fails closed (and the role-matrix
test notices).
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
from apps.core.roles import CAPABILITIES, Capability, may, user_roles


class AnonThrottle(AnonRateThrottle):
    """DRF's anonymous throttle, keyed on the address ``client_ip`` trusts (not on X-Forwarded-For)."""

    def get_ident(self, request):
        return client_ip(request)


class UserThrottle(UserRateThrottle):
    """DRF's per-user throttle; callers without a user are keyed like ``AnonThrottle``."""

    def get_ident(self, request):
        return client_ip(request)


class RoleRequiredMixin(AccessMixin):
    capability: Capability | None = None
    # A POST needs this one as well: pages every role reads and some roles change something from.
    post_capability: Capability | None = None
    # Pages read with GET and change with POST. Django's FormView would also run a PUT through the form.
    http_method_names = ["get", "post", "head", "options"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        for capability in self.capabilities_for(request.method):
            if capability is None:
                raise PermissionDenied("This page declares no capability, so it admits no one.")
            if not may(request.user, capability):
                raise PermissionDenied(CAPABILITIES[capability].refusal)
        try:
            self.check_object_permission(request)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        return super().dispatch(request, *args, **kwargs)

    @classmethod
    def capabilities_for(cls, method: str) -> list[Capability | None]:
        """What a request with ``method`` needs; ``None`` (nothing declared) admits no one."""
        if method.upper() == "POST" and cls.post_capability is not None:
            return [cls.capability, cls.post_capability]
        return [cls.capability]

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
        if not user_roles(request.user):
            return False
        capability = capability_for(view, request.method)
        return capability is not None and may(request.user, capability)


def capability_for(view, method: str) -> Capability | None:
    """The capability an API view demands for ``method``: ``read_capability`` (every role, unless the view
    says otherwise) for reads, ``write_capability`` (no one, unless the view says) for writes."""
    if method.upper() in SAFE_METHODS:
        return getattr(view, "read_capability", Capability.VIEW_PORTFOLIO)
    return getattr(view, "write_capability", None)


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

"""Single sign-on through OpenID Connect (mozilla-django-oidc), and the password backend beside it.

The authorization-code flow with PKCE, state and nonce is mozilla-django-oidc's. The portal adds:

* endpoints from the issuer's discovery document when they are not configured one by one;
* the ID token's audience and issuer checked (the library leaves both unchecked);
* accounts found by issuer and subject (``ExternalIdentity``), never by email address;
* roles taken from a claim (``PORTAL_OIDC_ROLE_CLAIM``) through ``PORTAL_OIDC_ROLE_MAP`` at every sign-in.

Settings: ``mlops_portal/settings.py``, "Single sign-on"; README, "Single sign-on".
"""

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from apps.core import services
from apps.core.client_ip import client_ip
from apps.core.roles import Role

METHOD_PASSWORD = "password"  # noqa: S105 (a sign-in method's name, no secret)
METHOD_OIDC = "oidc"

# mozilla-django-oidc's setting -> the discovery document's key (OpenID Connect Discovery 1.0, section 3).
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "PORTAL_OIDC_END_SESSION_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_SECONDS = 3600
_discovery: dict[str, tuple[float, dict]] = {}


class ProviderUnreachable(Exception):
    """The identity provider's discovery document could not be read."""


def discovery(issuer: str) -> dict:
    """The issuer's ``/.well-known/openid-configuration``, kept in this process for an hour."""
    if issuer in _discovery:
        fetched_at, document = _discovery[issuer]
        if time.monotonic() - fetched_at < DISCOVERY_SECONDS:
            return document
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnreachable(f"The identity provider's configuration ({url}) could not be read: {exc}") from exc
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnreachable(f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}: check "
                                  "PORTAL_OIDC_ISSUER.")
    _discovery[issuer] = (time.monotonic(), document)
    return document


_MISSING = object()


def oidc_setting(attr: str, default=_MISSING):
    """A mozilla-django-oidc setting; an empty endpoint comes from the issuer's discovery document."""
    value = getattr(settings, attr, None)
    if not value and attr in DISCOVERED and settings.PORTAL_OIDC_ISSUER:
        value = discovery(settings.PORTAL_OIDC_ISSUER).get(DISCOVERED[attr])
    if value in (None, ""):
        if default is not _MISSING:
            return default
        raise ImproperlyConfigured(f"Single sign-on needs {attr}; see the README, 'Single sign-on'.")
    return value


def roles_from_claims(claims: Mapping, *, claim: str, role_map: Mapping[str, Iterable[str]]
                      ) -> tuple[frozenset[Role], list[str]]:
    """The portal roles ``claims`` grant through ``role_map``, and the groups the claim listed.

    The claim may hold a list of group names or one name. Groups absent from the map grant nothing.
    """
    value = claims.get(claim) or []
    groups = [value] if isinstance(value, str) else [str(group) for group in value]
    roles = frozenset(Role(role) for group in groups for role in role_map.get(group, ()))
    return roles, groups


def role_map_problems(role_map: Mapping[str, Iterable[str]]) -> list[str]:
    """What is wrong with ``PORTAL_OIDC_ROLE_MAP``: roles the portal does not have."""
    known = {role.value for role in Role}
    return [f"{group}:{role} names no portal role (use one of {', '.join(sorted(known))})"
            for group, roles in role_map.items() for role in roles if role not in known]


class PasswordBackend(ModelBackend):
    """Django's username and password, refused while ``PORTAL_LOCAL_LOGIN`` is false.

    Superusers keep it then (break-glass, ``PORTAL_BREAK_GLASS_SUPERUSERS``), so the portal can still be
    reached when the identity provider is down. Refusing here also ends existing password sessions of
    everyone else: Django re-checks ``user_can_authenticate`` when it loads the session's user.
    """

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if settings.PORTAL_LOCAL_LOGIN:
            return True
        return user.is_superuser and settings.PORTAL_BREAK_GLASS_SUPERUSERS


@dataclass
class SignInFailure:
    """Why a single sign-on attempt was refused, for the audit trail and the person."""

    reason: str


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, configured lazily and mapping claims to the portal's roles.

    Django instantiates every backend on each ``authenticate`` call, password logins included; the base
    class would read (and here discover) the provider's endpoints then. This one does so only when a
    provider's callback is being handled.
    """

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        self.UserModel = get_user_model()
        self.failure: SignInFailure | None = None
        self.signed_in_roles: frozenset[Role] = frozenset()
        self.groups: list[str] = []

    def authenticate(self, request, **kwargs):
        if not settings.PORTAL_OIDC_ENABLED or request is None or "code" not in request.GET:
            return None
        request.sso_backend = self  # the callback view reads failure, roles and groups
        try:
            super().__init__()
            self.issuer = settings.PORTAL_OIDC_ISSUER
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, ProviderUnreachable, ImproperlyConfigured, requests.RequestException,
                jwt.PyJWTError, ValueError) as exc:
            self.failure = SignInFailure(str(exc) or exc.__class__.__name__)
            return None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        if "nonce" in kwargs:  # the ID token (a userinfo JWT carries no audience to check)
            audience = payload.get("aud")
            audiences = [audience] if isinstance(audience, str) else list(audience or [])
            if self.OIDC_RP_CLIENT_ID not in audiences:
                raise SuspiciousOperation("The ID token was issued to another client (aud).")
            if self.issuer and payload.get("iss", "").rstrip("/") != self.issuer:
                raise SuspiciousOperation("The ID token comes from another issuer (iss).")
            self.issuer = self.issuer or payload.get("iss", "")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        info = super().get_userinfo(access_token, id_token, payload)
        if info.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo answer is about someone else than the ID token (sub).")
        # Providers put groups in the ID token (Entra ID) or in userinfo (Keycloak, Okta): read both.
        return {**payload, **info}

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        try:
            claims = self.get_userinfo(access_token, id_token, payload)
        except SuspiciousOperation as exc:
            self.failure = SignInFailure(str(exc))
            raise
        if not self.verify_claims(claims):
            self.failure = SignInFailure("The provider named no subject (sub).")
            raise SuspiciousOperation(self.failure.reason)
        roles, self.groups = roles_from_claims(
            claims, claim=settings.PORTAL_OIDC_ROLE_CLAIM, role_map=settings.PORTAL_OIDC_ROLE_MAP)
        user = services.sso_sign_in(issuer=self.issuer, claims=claims, roles=roles,
                                    username_claim=settings.PORTAL_OIDC_USERNAME_CLAIM)
        self.signed_in_roles = roles
        return user


class SsoLockout:
    """Failed single sign-on callbacks counted per client address (``PORTAL_SSO_MAX_FAILURES``).

    A callback carries no password to guess, but forged or replayed ones, or a script hammering the
    provider's token endpoint through the portal, are slowed down like password guesses. Counted per
    address only: a count over all addresses would let anyone lock single sign-on for everyone.
    """

    def __init__(self, request):
        self.key = f"sso-failures:{client_ip(request)}"

    def locked(self) -> bool:
        return (cache.get(self.key) or 0) >= settings.PORTAL_SSO_MAX_FAILURES

    def fail(self) -> None:
        cache.add(self.key, 0, settings.PORTAL_LOGIN_LOCKOUT_SECONDS)
        cache.incr(self.key)
        cache.touch(self.key, settings.PORTAL_LOGIN_LOCKOUT_SECONDS)

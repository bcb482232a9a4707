"""System checks of the core app's settings (``manage.py check``)."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from apps.core.sso import role_map_problems


@register()
def sso_settings(app_configs, **kwargs):
    problems = [Error(f"PORTAL_OIDC_ROLE_MAP: {problem}", id="core.E001")
                for problem in role_map_problems(settings.PORTAL_OIDC_ROLE_MAP)]
    if settings.PORTAL_OIDC_ENABLED and not settings.PORTAL_OIDC_ROLE_MAP:
        problems.append(Warning("Single sign-on is on but PORTAL_OIDC_ROLE_MAP is empty: everyone who signs in "
                                "through it gets no role.", id="core.W001"))
    return problems


@register(deploy=True)
def sso_over_https(app_configs, **kwargs):
    endpoint = settings.PORTAL_OIDC_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT
    if settings.PORTAL_OIDC_ENABLED and not endpoint.startswith("https://"):
        return [Warning(f"The identity provider {endpoint} is not reached over HTTPS.", id="core.W002")]
    return []

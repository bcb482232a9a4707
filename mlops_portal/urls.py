from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import views_sso

api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.risk.api.urls")),
    path("", include("apps.reviews.api.urls")),
    path("", include("apps.monitoring.api.urls")),
    path("", include("apps.notifications.api.urls")),
    path("", include("apps.compliance.api.urls")),
    path("", include("apps.integrations.api.urls")),
    path("", include("apps.findings.api.urls")),
]

urlpatterns = [
    path("accounts/login/", views_sso.PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", views_sso.PortalLogoutView.as_view(), name="logout"),
    # Single sign-on (OpenID Connect); with it off, both send the visitor back to the login page.
    path("accounts/sso/start/", views_sso.SsoStartView.as_view(), name="oidc-start"),
    path("accounts/sso/callback/", views_sso.SsoCallbackView.as_view(), name="oidc-callback"),
    path("accounts/sso/no-role/", views_sso.SsoNoRoleView.as_view(), name="sso-no-role"),
    path("", include("apps.core.urls")),
    path("inventory/", include("apps.inventory.urls")),
    path("inventory/", include("apps.portfolio.urls")),
    path("risk/", include("apps.risk.urls")),
    path("reviews/", include("apps.reviews.urls")),
    path("monitoring/", include("apps.monitoring.urls")),
    path("governance/", include("apps.governance.urls")),
    path("compliance/", include("apps.compliance.urls")),
    path("use-cases/", include("apps.compliance.urls_intake")),
    path("findings/", include("apps.findings.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("integrations/", include("apps.integrations.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the strict CSP (no inline script) holds.
    # Its HTML renderer has no template for DRF's OPTIONS metadata (a 500), so the page answers GET only.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", http_method_names=["get", "head"]),
         name="api-docs"),
    path("admin/", admin.site.urls),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"

from django.urls import path

from apps.core import views

app_name = "core"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("audit/", views.AuditListView.as_view(), name="audit"),
    path("accounts/me/", views.AccountView.as_view(), name="account"),
    path("accounts/me/api-tokens/", views.ApiTokenCreateView.as_view(), name="api-token-create"),
    path("accounts/me/api-tokens/revoke/", views.ApiTokenRevokeView.as_view(), name="api-token-revoke"),
    path("accounts/me/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (the Django admin).
    path("favicon.ico", views.favicon, name="favicon"),
]

from django.urls import path

from apps.core import views

app_name = "core"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("audit/", views.AuditListView.as_view(), name="audit"),
    path("accounts/me/", views.AccountView.as_view(), name="account"),
    path("accounts/me/api-token/", views.ApiTokenRotateView.as_view(), name="api-token-rotate"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (the Django admin).
    path("favicon.ico", views.favicon, name="favicon"),
]

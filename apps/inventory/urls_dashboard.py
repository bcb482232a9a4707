"""Executive dashboard and lineage pages (included by apps/inventory/urls.py)."""

from django.urls import path

from apps.inventory import views_dashboard

urlpatterns: list = [
    path("dashboard/", views_dashboard.DashboardView.as_view(), name="dashboard"),
    path("lineage/", views_dashboard.LineageView.as_view(), name="lineage"),
    path("models/<slug:slug>/lineage/", views_dashboard.ModelLineageView.as_view(), name="model-lineage"),
]

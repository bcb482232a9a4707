"""The executive dashboard and the model cards, at the paths they had under /inventory/."""

from django.urls import path

from apps.portfolio import views, views_cards

app_name = "portfolio"

urlpatterns: list = [
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("models/<slug:slug>/versions/<str:version>/card/", views_cards.ModelCardView.as_view(), name="model-card"),
]

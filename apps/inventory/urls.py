from django.urls import path

from apps.inventory import urls_cards, urls_dashboard, views

app_name = "inventory"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    *urls_dashboard.urlpatterns,
    *urls_cards.urlpatterns,
]

"""Model cards and inventory import (included by apps/inventory/urls.py)."""

from django.urls import path

from apps.inventory import views_cards

urlpatterns: list = [
    path("models/<slug:slug>/versions/<str:version>/card/", views_cards.ModelCardView.as_view(), name="model-card"),
    path("import/", views_cards.ImportView.as_view(), name="import"),
]

from django.urls import path

from apps.risk import views

app_name = "risk"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
]

from django.urls import path

from apps.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
]

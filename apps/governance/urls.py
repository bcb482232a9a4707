from django.urls import path

from apps.governance import views

app_name = "governance"

urlpatterns = [
    path("versions/<int:version_id>/accept/", views.AcceptRiskView.as_view(), name="accept"),
]

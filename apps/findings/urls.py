from django.urls import path

from apps.findings import views

app_name = "findings"

urlpatterns = [
    path("", views.FindingListView.as_view(), name="index"),
    path("new/<int:version_id>/", views.FindingCreateView.as_view(), name="raise"),
    path("<int:pk>/", views.FindingDetailView.as_view(), name="finding"),
    path("<int:pk>/edit/", views.FindingEditView.as_view(), name="finding-edit"),
    path("<int:pk>/status/", views.FindingStatusView.as_view(), name="finding-status"),
    path("incidents/", views.IncidentListView.as_view(), name="incidents"),
    path("incidents/new/<slug:slug>/", views.IncidentCreateView.as_view(), name="incident-open"),
    path("incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="incident"),
    path("incidents/<int:pk>/edit/", views.IncidentEditView.as_view(), name="incident-edit"),
    path("incidents/<int:pk>/entry/", views.IncidentEntryView.as_view(), name="incident-entry"),
    path("incidents/<int:pk>/status/", views.IncidentStatusView.as_view(), name="incident-status"),
]

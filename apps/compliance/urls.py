from django.urls import path

from apps.compliance import views

app_name = "compliance"

urlpatterns = [
    path("", views.PortfolioView.as_view(), name="index"),
    path("export.csv", views.ExportView.as_view(), name="export"),
    path("frameworks/", views.FrameworkListView.as_view(), name="frameworks"),
    path("models/<slug:slug>/", views.ModelComplianceView.as_view(), name="model"),
    path("models/<slug:slug>/classify/", views.ClassifyView.as_view(), name="classify"),
    path("models/<slug:slug>/versions/<str:version>/documents/", views.DocumentsView.as_view(), name="documents"),
    path("documents/<int:pk>.<str:fmt>", views.DocumentDownloadView.as_view(), name="document-download"),
    path("findings/<int:pk>/controls/", views.FindingControlsView.as_view(), name="finding-controls"),
]

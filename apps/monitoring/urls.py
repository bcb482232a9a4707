from django.urls import path

from apps.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("upload/", views.UploadView.as_view(), name="upload"),
    path("upload/preview/", views.UploadPreviewView.as_view(), name="upload-preview"),
    path("reference/upload/", views.ReferenceUploadView.as_view(), name="reference-upload"),
    path("evaluations/<int:pk>/", views.EvaluationDetailView.as_view(), name="evaluation-detail"),
    path("evaluations/<int:pk>/labels/", views.EvaluationLabelsView.as_view(), name="evaluation-labels"),
    path("evaluations/<int:pk>/status/", views.EvaluationStatusView.as_view(), name="evaluation-status"),
    path("evaluations/<int:pk>/explanation/", views.EvaluationExplanationView.as_view(), name="evaluation-explanation"),
    path(
        "evaluations/<int:pk>/explanation/retry/",
        views.EvaluationExplanationRetryView.as_view(),
        name="evaluation-explanation-retry",
    ),
    path("models/<slug:slug>/", views.ModelMonitoringView.as_view(), name="model"),
    path("models/<slug:slug>/compare/", views.CompareView.as_view(), name="compare"),
    path("models/<slug:slug>/promote/", views.PromoteView.as_view(), name="promote"),
    path("alerts/<int:pk>/", views.AlertDetailView.as_view(), name="alert-detail"),
    path("alerts/<int:pk>/acknowledge/", views.AlertActionView.as_view(action="acknowledge"), name="alert-acknowledge"),
    path("alerts/<int:pk>/resolve/", views.AlertActionView.as_view(action="resolve"), name="alert-resolve"),
]

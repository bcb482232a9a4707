from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.monitoring.api import uploads, views

router = SimpleRouter()
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("metric-windows", views.MetricWindowViewSet, basename="metric-window")
router.register("uploads", uploads.UploadViewSet, basename="upload")

urlpatterns = [
    path("model-versions/<int:pk>/reference/", views.ReferenceUploadView.as_view(), name="model-version-reference"),
    *router.urls,
]

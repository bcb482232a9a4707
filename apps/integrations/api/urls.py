from rest_framework.routers import SimpleRouter

from apps.integrations.api import views

router = SimpleRouter()
router.register("mlflow-servers", views.MlflowServerViewSet, basename="mlflow-server")
router.register("mlflow-sync-runs", views.SyncRunViewSet, basename="mlflow-sync-run")

urlpatterns = [*router.urls]

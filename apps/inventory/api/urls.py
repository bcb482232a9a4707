from rest_framework.routers import SimpleRouter

from apps.inventory.api import views

router = SimpleRouter()
router.register("business-units", views.BusinessUnitViewSet, basename="business-unit")
router.register("teams", views.TeamViewSet, basename="team")
router.register("business-processes", views.BusinessProcessViewSet, basename="business-process")
router.register("datasets", views.DataSetViewSet, basename="dataset")
router.register("pipeline-steps", views.PipelineStepViewSet, basename="pipeline-step")
router.register("models", views.MLModelViewSet, basename="model")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("deployments", views.DeploymentViewSet, basename="deployment")

urlpatterns = [*router.urls]

from rest_framework.routers import SimpleRouter

from apps.findings.api import views

router = SimpleRouter()
router.register("findings", views.FindingViewSet, basename="finding")
router.register("incidents", views.IncidentViewSet, basename="incident")

urlpatterns = [*router.urls]

from rest_framework.routers import SimpleRouter

from apps.risk.api import views

router = SimpleRouter()
router.register("risk-assessments", views.AssessmentViewSet, basename="risk-assessment")
router.register("governance-policies", views.PolicyViewSet, basename="governance-policy")
router.register("risk-matrices", views.MatrixViewSet, basename="risk-matrix")

urlpatterns = [*router.urls]

from rest_framework.routers import SimpleRouter

from apps.notifications.api import views

router = SimpleRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhook")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [*router.urls]

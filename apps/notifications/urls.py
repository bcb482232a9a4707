from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="list"),
    path("read/", views.NotificationMarkReadView.as_view(), name="mark-read"),
    path("webhooks/", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/new/", views.WebhookCreateView.as_view(), name="webhook-create"),
    path("webhooks/<int:pk>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:pk>/ping/", views.WebhookPingView.as_view(), name="webhook-ping"),
    path("webhooks/<int:pk>/delete/", views.WebhookDeleteView.as_view(), name="webhook-delete"),
]

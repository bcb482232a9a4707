from django.urls import path

from apps.integrations import views

app_name = "integrations"

urlpatterns = [
    path("mlflow/", views.ServerListView.as_view(), name="servers"),
    path("mlflow/new/", views.ServerCreateView.as_view(), name="server-create"),
    path("mlflow/<int:pk>/", views.ServerDetailView.as_view(), name="server"),
    path("mlflow/<int:pk>/test/", views.ServerTestView.as_view(), name="server-test"),
    path("mlflow/<int:pk>/sync/", views.ServerSyncView.as_view(), name="server-sync"),
    path("mlflow/<int:pk>/delete/", views.ServerDeleteView.as_view(), name="server-delete"),
    path("mlflow/runs/<int:pk>/", views.RunDetailView.as_view(), name="run"),
]

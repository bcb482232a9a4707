from django.urls import path

from apps.inventory import views, views_import, views_lineage

app_name = "inventory"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("export.csv", views.ExportView.as_view(), name="export"),
    path("lineage/", views_lineage.LineageView.as_view(), name="lineage"),
    path("models/<slug:slug>/lineage/", views_lineage.ModelLineageView.as_view(), name="model-lineage"),
    path("import/", views_import.ImportView.as_view(), name="import"),
    path("models/new/", views.ModelCreateView.as_view(), name="model-create"),
    path("models/<slug:slug>/", views.ModelDetailView.as_view(), name="model-detail"),
    path("models/<slug:slug>/edit/", views.ModelEditView.as_view(), name="model-edit"),
    path("models/<slug:slug>/versions/new/", views.VersionCreateView.as_view(), name="version-create"),
    path("models/<slug:slug>/versions/<str:version>/", views.VersionDetailView.as_view(), name="version-detail"),
    path("models/<slug:slug>/versions/<str:version>/deployments/new/", views.DeploymentCreateView.as_view(),
         name="deployment-create"),
    path("datasets/", views.DataSetListView.as_view(), name="dataset-list"),
    path("datasets/new/", views.DataSetCreateView.as_view(), name="dataset-create"),
    path("datasets/<slug:slug>/", views.DataSetDetailView.as_view(), name="dataset-detail"),
    path("processes/", views.ProcessListView.as_view(), name="process-list"),
    path("processes/new/", views.ProcessCreateView.as_view(), name="process-create"),
    path("processes/<slug:slug>/", views.ProcessDetailView.as_view(), name="process-detail"),
]

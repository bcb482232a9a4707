from django.urls import path

from apps.compliance.api import intake, views

urlpatterns = [
    path("compliance/frameworks/", views.FrameworkListView.as_view(), name="api-compliance-frameworks"),
    path("compliance/coverage/", views.CoverageView.as_view(), name="api-compliance-coverage"),
    path("compliance/models/<slug:slug>/", views.ModelComplianceView.as_view(), name="api-compliance-model"),
    path("compliance/models/<slug:slug>/classification/", views.ClassificationView.as_view(),
         name="api-compliance-classification"),
    path("use-cases/", intake.UseCaseListView.as_view(), name="api-use-case-list"),
    path("use-cases/<int:pk>/", intake.UseCaseDetailView.as_view(), name="api-use-case-detail"),
    path("use-cases/<int:pk>/submit/", intake.UseCaseSubmitView.as_view(), name="api-use-case-submit"),
    path("use-cases/<int:pk>/decide/", intake.UseCaseDecideView.as_view(), name="api-use-case-decide"),
    path("use-cases/<int:pk>/withdraw/", intake.UseCaseWithdrawView.as_view(), name="api-use-case-withdraw"),
    # One path parameter each: a version by its id, as /api/v1/model-versions/ names it.
    path("compliance/versions/<int:version_id>/documents/", views.DocumentListView.as_view(),
         name="api-compliance-documents"),
    path("compliance/documents/<int:pk>/pdf/", views.DocumentDownloadView.as_view(fmt="pdf"),
         name="api-compliance-document-pdf"),
    path("compliance/documents/<int:pk>/html/", views.DocumentDownloadView.as_view(fmt="html"),
         name="api-compliance-document-html"),
    path("compliance/findings/<int:pk>/controls/", views.FindingControlsView.as_view(),
         name="api-compliance-finding-controls"),
]

from django.urls import path

from apps.compliance.api import views

urlpatterns = [
    path("compliance/frameworks/", views.FrameworkListView.as_view(), name="api-compliance-frameworks"),
    path("compliance/coverage/", views.CoverageView.as_view(), name="api-compliance-coverage"),
    path("compliance/models/<slug:slug>/", views.ModelComplianceView.as_view(), name="api-compliance-model"),
    path("compliance/models/<slug:slug>/classification/", views.ClassificationView.as_view(),
         name="api-compliance-classification"),
    path("compliance/findings/<int:pk>/controls/", views.FindingControlsView.as_view(),
         name="api-compliance-finding-controls"),
]

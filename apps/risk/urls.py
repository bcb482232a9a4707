from django.urls import path

from apps.risk import views

app_name = "risk"

urlpatterns = [
    path("", views.RegisterView.as_view(), name="index"),
    path("register.csv", views.RegisterExportView.as_view(), name="register-export"),
    path("models/<slug:slug>/", views.ModelRiskView.as_view(), name="model"),
    path("models/<slug:slug>/assess/", views.AssessView.as_view(), name="assess"),
    path("assessments/<int:pk>/", views.AssessmentDetailView.as_view(), name="assessment-detail"),
    path("policies/", views.PolicyListView.as_view(), name="policies"),
    path("policies/<str:tier>/edit/", views.PolicyEditView.as_view(), name="policy-edit"),
    path("matrix/edit/", views.MatrixEditView.as_view(), name="matrix-edit"),
]

from django.urls import path

from apps.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("<int:pk>/", views.ReviewDetailView.as_view(), name="detail"),
    path("<int:pk>/answers/", views.AnswersView.as_view(), name="answers"),
    path("<int:pk>/decide/", views.DecideView.as_view(), name="decide"),
    path("<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
    path("<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="acknowledge"),
    path("<int:pk>/withdraw/", views.WithdrawView.as_view(), name="withdraw"),
    path("<int:pk>/evidence/<int:answer_id>/", views.EvidenceView.as_view(), name="evidence"),
    path("<int:pk>/report/", views.ReportView.as_view(), name="report"),
    path("versions/<int:version_id>/", views.VersionReviewsView.as_view(), name="version"),
    path("versions/<int:version_id>/start/", views.StartView.as_view(), name="start"),
]

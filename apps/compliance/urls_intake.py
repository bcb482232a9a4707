from django.urls import path

from apps.compliance import views_intake as views

app_name = "intake"

urlpatterns = [
    path("", views.UseCaseListView.as_view(), name="index"),
    path("new/", views.UseCaseProposeView.as_view(), name="propose"),
    path("<int:pk>/", views.UseCaseDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.UseCaseEditView.as_view(), name="edit"),
    path("<int:pk>/submit/", views.UseCaseSubmitView.as_view(), name="submit"),
    path("<int:pk>/decide/", views.UseCaseDecideView.as_view(), name="decide"),
    path("<int:pk>/withdraw/", views.UseCaseWithdrawView.as_view(), name="withdraw"),
]

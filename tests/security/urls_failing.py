"""The portal's URLs plus one failing view that holds secrets in its frame (see test_headers_and_secrets.py)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"


@login_not_required
def failing(request):
    password = request.POST.get("password", "")  # noqa: F841 - a debug page would show the frame's locals
    secret = settings.SECRET_KEY  # noqa: F841
    database = settings.DATABASES["default"]  # noqa: F841
    raise RuntimeError("the view failed")


urlpatterns = [path("failing/", failing), path("api/v1/failing/", failing), path("", include("mlops_portal.urls"))]

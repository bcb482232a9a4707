import logging
import re
import uuid

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from apps.core.request_context import request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give each request an id (or keep a sane incoming ``X-Request-ID``) for logs and the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than the largest upload, before reading any of it.

    Uploads are checked against ``PORTAL_MAX_UPLOAD_BYTES`` once read; a client that says up front it
    will send more gets 413 at once instead of streaming it all first. Allows 1 MiB for the form
    fields and multipart framing around the file. Runs after authentication (the page needs the user)
    and before anything reads the body (CSRF reads form data in ``process_view``).
    """

    ENVELOPE = 1024 * 1024

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django answers a malformed length itself
        limit = settings.PORTAL_MAX_UPLOAD_BYTES + self.ENVELOPE
        if declared <= limit:
            return self.get_response(request)
        message = (f"The request is {declared / 2**20:,.0f} MB; uploads are limited to "
                   f"{settings.PORTAL_MAX_UPLOAD_BYTES / 2**20:,.0f} MB (PORTAL_MAX_UPLOAD_MB). "
                   "Send a sample of the evaluation rows or split the file by period.")
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return render(request, "413.html", {"message": message}, status=413)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every page of a signed-in person and every API answer.

    They carry people's data and CSRF tokens; a shared computer's browser cache or a proxy must not keep
    them. Static files are served by WhiteNoise before this runs and keep their long cache lifetime.
    Directives a view set itself are kept, but ``no-store`` overrides any lifetime they give.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            patch_cache_control(response, private=True, no_store=True)
        return response

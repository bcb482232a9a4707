from django.db import DataError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from apps.core.errors import DomainError


def exception_handler(exc, context):
    """DRF's handler, plus domain errors as ``{"detail": ..., "field": ...}`` with their status."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        problems = getattr(exc, "problems", None)
        if problems:
            body["problems"] = [
                {"column": p.column, "rows": list(p.rows), "message": p.message} for p in problems
            ]
        return Response(body, status=exc.status_code)
    if isinstance(exc, DataError) and "NUL" in str(exc):
        # PostgreSQL refuses text with NUL bytes even in a lookup (a slug, a username, a filter value);
        # DRF's CharField rejects them, but related-field lookups and filters pass them to the database.
        set_rollback()
        return Response({"detail": "Text may not contain NUL (0x00) characters."}, status=400)
    return drf_exception_handler(exc, context)

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
    return drf_exception_handler(exc, context)

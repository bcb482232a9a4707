"""Whole numbers read from a request's query string or form, parsed in one place.

``str.isdigit()`` is true for ``"²"`` (which ``int()`` refuses) and ``int()`` takes numbers no database
column holds, so every view that reads an id from the request calls ``query_int``: a bad value is a 400
that names the parameter, never a 500.
"""

import re

from django.core.exceptions import BadRequest

from apps.core.errors import DomainError

# The largest BigAutoField key, and the largest SQLite integer: anything larger is a typo or a probe.
MAX_ID = 2**63 - 1

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")  # ASCII digits only; int() also takes "١٢" and " 12 ".


class InvalidParameter(DomainError, BadRequest):
    """A query or form parameter the view cannot use.

    A ``DomainError``, so the API answers ``{"detail", "field"}`` as JSON; a ``BadRequest``, so a page
    answers the 400 page (``handler400``) instead of failing inside the view.
    """


def query_int(params, name: str, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """The whole number ``params[name]`` (a ``QueryDict`` or any mapping), or ``None`` if absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    # The length check first, so int() never converts thousands of digits only to refuse them.
    longest = max(len(str(minimum)), len(str(maximum)))
    if len(raw) <= longest and _WHOLE_NUMBER.fullmatch(raw) and minimum <= int(raw) <= maximum:
        return int(raw)
    raise InvalidParameter(f"{name} must be a whole number from {minimum} to {maximum}.", field=name)

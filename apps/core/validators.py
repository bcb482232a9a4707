"""Validators shared by every app's models, forms and serializers."""

import re

from django.core.exceptions import ValidationError

# C0 and C1 control characters (CR, LF, tab, NUL, ESC...), DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def validate_single_line(value) -> None:
    """Refuse line breaks and other control characters in a one-line value.

    A name is copied into e-mail subjects, CSV cells, log lines and HTTP headers, where a line
    break starts a new header or record (``"x\\r\\nBcc: ..."``). Every ``CharField`` of a portal
    model carries this validator; ``tests/core/test_single_line.py`` checks that none is missed.
    """
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValidationError("Enter a single line: line breaks, tabs and other control characters are not allowed.",
                              code="control_characters")


def single_line(text: str) -> str:
    """``text`` with each run of control characters replaced by one space, for places that must not refuse."""
    return _CONTROL.sub(" ", text).strip()

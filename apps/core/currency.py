"""Amounts of money as people read them, in the portal's currency (``PORTAL_CURRENCY``)."""

from django.conf import settings


def format_money(amount) -> str:
    """A whole amount: ``EUR 1,250,000``; none is a dash."""
    if amount is None or amount == "":
        return "—"
    return f"{settings.PORTAL_CURRENCY} {int(amount):,}"

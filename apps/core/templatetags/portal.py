from django import template

from apps.core import activity as activity_module
from apps.core.currency import format_money
from apps.core.selectors import audit_history_for

register = template.Library()


@register.filter
def money(amount) -> str:
    """A whole amount in the portal's currency (``PORTAL_CURRENCY``): ``EUR 1,250,000``."""
    return format_money(amount)


@register.filter
def activity(event) -> str:
    """An audit event as a sentence for a feed (``apps.core.activity``)."""
    return activity_module.describe(event).sentence


@register.inclusion_tag("core/partials/history.html")
def audit_history(obj, limit: int = 20):
    """The audit events of one object, newest first, with a link to the full trail."""
    return {
        "events": audit_history_for(obj, limit=limit),
        "object_type": obj._meta.label_lower,
        "object_id": obj.pk,
        "limit": limit,
    }


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (for sort and page links)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def query_with_page(context, number, param: str = ""):
    """The current query string on page ``number``; ``param`` names the page parameter when a page has several lists."""
    return query_with(context, **{param or "page": number})

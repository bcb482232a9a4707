"""The portal's pages, enumerated from the role matrix so a new page is covered the day it gets its entry.

A page is a GET URL outside the API that answers a whole HTML document (not a CSV export, a file download or an
htmx fragment); ``is_page`` decides that from a response, since only the response knows.
"""

from django.urls import get_resolver, reverse

from tests.role_matrix import PUBLIC, collect_matrix

ROLE_ORDER = ("executive", "reviewer", "data_scientist", "admin")
NOT_PAGES = {"core:healthz", "core:favicon"}


def page_cases() -> list[tuple[str, tuple[str, ...]]]:
    """``(url_name, roles)`` for every GET URL outside the API; ``roles`` is empty for a public page."""
    cases = []
    for name, (method, allowed, _) in collect_matrix().items():
        if method != "get" or name in NOT_PAGES or _is_api(name):
            continue
        roles = () if allowed == PUBLIC else tuple(r for r in ROLE_ORDER if r in allowed)
        cases.append((name, roles))
    return cases


def _is_api(name: str) -> bool:
    """The API's routes are the un-namespaced ones under ``api/`` (read from the pattern: no object needed)."""
    if ":" in name:
        return False
    possibilities = get_resolver().reverse_dict.getlist(name)[0][0]
    return possibilities[0][0].startswith("api/")


def url_for(name: str) -> str:
    """The URL of ``name``, creating (in the test's database) the object it shows."""
    _, _, factory = collect_matrix()[name]
    return reverse(name, kwargs=factory() if factory else None)


def is_page(content_type: str, body: str) -> bool:
    return content_type.startswith("text/html") and body.lstrip()[:15].lower() == "<!doctype html>"

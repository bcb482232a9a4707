"""The main menu: each entry names the roles that see it, like the views it links to."""

from dataclasses import dataclass

from django.urls import reverse

from apps.core.roles import ADMIN_ONLY, ALL_ROLES, Role, user_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: frozenset


MENU = (
    NavItem("Home", "core:home", ALL_ROLES),
    NavItem("Dashboard", "portfolio:dashboard", ALL_ROLES),
    NavItem("Inventory", "inventory:index", ALL_ROLES),
    NavItem("Risk", "risk:index", ALL_ROLES),
    NavItem("Reviews", "reviews:index", ALL_ROLES),
    NavItem("Monitoring", "monitoring:index", ALL_ROLES),
    NavItem("Audit trail", "core:audit", ALL_ROLES),
    NavItem("API", "api-docs", frozenset({Role.DATA_SCIENTIST, Role.ADMIN, Role.REVIEWER})),
    NavItem("Admin", "admin:index", ADMIN_ONLY),
)


def navigation_for(request) -> list[dict]:
    roles = user_roles(request.user)
    current = request.path
    items = []
    for item in MENU:
        if not roles & item.roles:
            continue
        url = reverse(item.url_name)
        active = current == url if url in ("/", "/inventory/") else current.startswith(url)
        items.append({"label": item.label, "url": url, "active": active})
    return items

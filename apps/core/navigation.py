"""The main menu: each entry names the capability whose holders see it, like the views it links to."""

from dataclasses import dataclass

from django.urls import reverse

from apps.core.roles import Capability, Role, may, user_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: Capability


MENU = (
    NavItem("Home", "core:home", Capability.VIEW_PORTFOLIO),
    NavItem("Dashboard", "portfolio:dashboard", Capability.VIEW_PORTFOLIO),
    NavItem("Use cases", "intake:index", Capability.VIEW_PORTFOLIO),
    NavItem("Inventory", "inventory:index", Capability.VIEW_PORTFOLIO),
    NavItem("Risk", "risk:index", Capability.VIEW_PORTFOLIO),
    NavItem("Reviews", "reviews:index", Capability.VIEW_PORTFOLIO),
    NavItem("Monitoring", "monitoring:index", Capability.VIEW_PORTFOLIO),
    NavItem("Compliance", "compliance:index", Capability.VIEW_PORTFOLIO),
    NavItem("Findings", "findings:index", Capability.VIEW_PORTFOLIO),
    NavItem("Audit trail", "core:audit", Capability.VIEW_PORTFOLIO),
    NavItem("API", "api-docs", Capability.CHANGE_CONTENT),
    NavItem("Webhooks", "notifications:webhooks", Capability.MANAGE_WEBHOOKS),
    NavItem("MLflow", "integrations:servers", Capability.MANAGE_INTEGRATIONS),
    NavItem("Admin", "admin:index", Capability.MANAGE_USERS),
)


def navigation_for(request) -> list[dict]:
    current = request.path
    items = []
    for item in MENU:
        if not may(request.user, item.capability):
            continue
        url = reverse(item.url_name)
        active = current == url if url in ("/", "/inventory/") else current.startswith(url)
        items.append({"label": item.label, "url": url, "active": active})
    return items


# Where a person lands after signing in: what their role acts on. The first of these roles they hold decides;
# an administrator's home page carries the audit chain's health, a data scientist's links to their models,
# the blocks on their versions and the open alerts.
START_PAGES = (
    (Role.ADMIN, "core:home"),
    (Role.REVIEWER, "reviews:index"),  # the reviews assigned to them and those waiting for a decision
    (Role.EXECUTIVE, "portfolio:dashboard"),  # the portfolio, red flags first
    (Role.DATA_SCIENTIST, "core:home"),
)


def start_page(user) -> str:
    roles = user_roles(user)
    return reverse(next((name for role, name in START_PAGES if role in roles), "core:home"))

from django.apps import AppConfig

from apps.inventory import panels as inventory_panels


class PortfolioConfig(AppConfig):
    """The read side: the dashboard, governance charts, red flags and model cards, composed from the stored
    governance state and the domain apps' selectors. It sits above every domain app and nothing below imports it."""

    name = "apps.portfolio"
    label = "portfolio"
    verbose_name = "Portfolio: dashboard, red flags and model cards"

    def ready(self) -> None:
        from apps.portfolio import panels

        inventory_panels.register(panels.governance_panels)

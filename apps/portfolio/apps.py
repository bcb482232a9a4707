from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    """The read side: the dashboard, governance charts, red flags and model cards, composed from the domain
    apps' selectors. It sits above every domain app and nothing below imports it."""

    name = "apps.portfolio"
    label = "portfolio"
    verbose_name = "Portfolio: dashboard, red flags and model cards"

    def ready(self) -> None:
        # Importing them registers the red-flag sources of risk, reviews and monitoring.
        from apps.inventory import panels as inventory_panels
        from apps.portfolio import panels, redflags_monitoring, redflags_reviews, redflags_risk  # noqa: F401

        inventory_panels.register(panels.governance_panels)

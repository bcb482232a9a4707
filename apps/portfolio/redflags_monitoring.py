"""Monitoring red flags: metrics in breach on a model."""

from django.urls import reverse

from apps.monitoring.selectors import unresolved_breaches
from apps.portfolio.redflags import HIGH, Source, register, within

BREACHED = "Breached metric"


@register
class BreachedMetrics(Source):
    """Breach alerts not yet resolved."""

    kind = BREACHED
    severity = HIGH
    model = "model"
    order = ("metric", "version__version")
    related = ("model", "version")

    def rows(self, models):
        return unresolved_breaches().filter(within(models, "model"))

    def detail(self, alert) -> str:
        return f"{alert.metric} of {alert.version.version}: {alert.message}"

    def url(self, alert) -> str:
        return reverse("monitoring:alert-detail", args=[alert.pk])

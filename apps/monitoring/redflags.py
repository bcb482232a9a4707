"""Monitoring red flags: metrics in breach on a model."""

from django.urls import reverse_lazy as reverse

from apps.inventory.redflags import HIGH, RedFlag, register
from apps.monitoring.models import Alert

BREACHED = "Breached metric"


@register
def breached_metrics(models):
    alerts = (Alert.objects.filter(model__in=models, severity=Alert.Severity.BREACH)
              .exclude(status=Alert.Status.RESOLVED).select_related("model", "version").order_by("model__name"))
    for alert in alerts:
        yield RedFlag(HIGH, alert.model.name, BREACHED,
                      f"{alert.metric} of {alert.version.version}: {alert.message}",
                      reverse("monitoring:alert-detail", args=[alert.pk]))

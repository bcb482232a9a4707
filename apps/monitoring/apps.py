from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring: evaluations, performance, fairness and drift"

    def ready(self) -> None:
        from apps.monitoring import redflags  # noqa: F401 - registers the dashboard's monitoring flags

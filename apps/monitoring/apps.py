from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring: evaluations, performance, fairness and drift"

    def ready(self) -> None:
        # Imported here: both read models, which exist only once the app registry is ready.
        from apps.monitoring.evidence import review_evidence
        from apps.reviews import evidence

        evidence.register(review_evidence)

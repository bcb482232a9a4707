from django.apps import AppConfig

from apps.reviews import evidence_sources


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring: evaluations, performance, fairness and drift"

    def ready(self) -> None:
        # Imported here: it reads this app's models, which exist only once the app registry is ready.
        from apps.monitoring.evidence import review_evidence

        evidence_sources.register(review_evidence)

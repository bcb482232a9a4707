from django.apps import AppConfig

from apps.inventory import signals


class RiskConfig(AppConfig):
    name = "apps.risk"
    label = "risk"
    verbose_name = "Risk: assessments, tiers and governance policies"

    def ready(self) -> None:
        from apps.risk import models, services

        def request_reassessment(sender, model, actor, changed, **kwargs):
            services.reassessment_request(model=model, actor=actor,
                                          kind=models.ReassessmentTrigger.Kind.CONTEXT_CHANGED,
                                          reason=f"{', '.join(changed)} changed; re-assess the risk.")

        signals.model_risk_context_changed.connect(request_reassessment, dispatch_uid="risk.reassess", weak=False)

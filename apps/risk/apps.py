from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "apps.risk"
    label = "risk"
    verbose_name = "Risk: assessments, tiers and governance policies"

    def ready(self) -> None:
        from apps.inventory import gates, signals
        from apps.risk import models, selectors, services

        def assessment_problems(version) -> list[str]:
            obligations = selectors.obligations_for(version.model)
            if not obligations.assessed:
                return ["It needs a risk assessment."]
            if obligations.reassessment_pending:
                return [f"Risk re-assessment pending: {obligations.reassessment_pending} It cannot go to "
                        f"production until a reviewer re-assesses the model."]
            if obligations.overdue:
                return [f"Its risk re-assessment was due {obligations.reassessment_due:%Y-%m-%d}."]
            return []

        gates.register(assessment_problems)

        def request_reassessment(sender, model, actor, changed, **kwargs):
            services.reassessment_request(model=model, actor=actor,
                                          kind=models.ReassessmentTrigger.Kind.CONTEXT_CHANGED,
                                          reason=f"{', '.join(changed)} changed; re-assess the risk.")

        signals.model_risk_context_changed.connect(request_reassessment, dispatch_uid="risk.reassess", weak=False)

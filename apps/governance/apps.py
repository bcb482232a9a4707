from django.apps import AppConfig

from apps.inventory import gates, signals


class GovernanceConfig(AppConfig):
    name = "apps.governance"
    verbose_name = "Governance state"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from apps.governance import receivers

        signals.governance_inputs_changed.connect(receivers.refresh, dispatch_uid="governance.refresh", weak=False)
        post_save.connect(receivers.user_saved, sender=get_user_model(), dispatch_uid="governance.user", weak=False)
        gates.register(receivers.gate_problems)

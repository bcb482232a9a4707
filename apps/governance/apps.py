from django.apps import AppConfig

from apps.inventory import gates, signals


class GovernanceConfig(AppConfig):
    name = "apps.governance"
    verbose_name = "Governance state"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save, pre_delete

        from apps.governance import receivers
        from apps.inventory.models import ModelGovernance, Team

        signals.governance_inputs_changed.connect(receivers.refresh, dispatch_uid="governance.refresh", weak=False)
        post_save.connect(receivers.user_saved, sender=get_user_model(), dispatch_uid="governance.user", weak=False)
        post_save.connect(receivers.team_saved, sender=Team, dispatch_uid="governance.team", weak=False)
        pre_delete.connect(receivers.state_deleted, sender=ModelGovernance, dispatch_uid="governance.deleted",
                           weak=False)
        gates.register(receivers.gate_problems)

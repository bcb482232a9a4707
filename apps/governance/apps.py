from django.apps import AppConfig

from apps.inventory import gates, signals


class GovernanceConfig(AppConfig):
    name = "apps.governance"
    verbose_name = "Governance state"

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import post_save, pre_delete

        from apps.governance import receivers

        signals.governance_inputs_changed.connect(receivers.refresh, dispatch_uid="governance.refresh", weak=False)
        # Senders named lazily ("app_label.Model"): the models are read where they live, not imported here.
        post_save.connect(receivers.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="governance.user",
                          weak=False)
        post_save.connect(receivers.team_saved, sender="inventory.Team", dispatch_uid="governance.team", weak=False)
        post_save.connect(receivers.process_saved, sender="inventory.BusinessProcess",
                          dispatch_uid="governance.process", weak=False)
        pre_delete.connect(receivers.state_deleted, sender="inventory.ModelGovernance",
                           dispatch_uid="governance.deleted", weak=False)
        gates.register(receivers.gate_problems)

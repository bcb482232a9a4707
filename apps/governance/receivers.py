"""How the governance state hears of changes: the domain apps' signal, user accounts, and the gate."""

from apps.governance import figures
from apps.governance.services import governance_refresh
from apps.inventory.models import Deployment, MLModel, VersionGovernance

# What of an account the red flags read: active (owner left) and whether the owner can be reached.
OWNER_FIELDS = {"is_active", "email", "first_name", "last_name"}


def refresh(sender, *, model_ids, actor=None, cause: str = "", **kwargs) -> None:
    governance_refresh(model_ids=model_ids, actor=actor, cause=cause)


def user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """An accountable owner deactivated (or reactivated) or their contact details changed, from any screen: the
    models they own change state or red flags."""
    if created or (update_fields is not None and not OWNER_FIELDS & set(update_fields)):
        return
    owned = list(MLModel.objects.filter(accountable_owner=instance).values_list("pk", flat=True))
    if owned:
        governance_refresh(model_ids=owned, cause=f"account of {instance.get_username()} changed "
                           f"({'active' if instance.is_active else 'inactive'})")


def team_saved(sender, instance, created: bool, **kwargs) -> None:
    """A team moved to another business unit takes its models' figures with it."""
    if created:
        return
    models = list(MLModel.objects.filter(team=instance).values_list("pk", flat=True))
    if models:
        figures.store(models)


def process_saved(sender, instance, created: bool, **kwargs) -> None:
    """A process's value at stake changed: the money its models put at risk moves with it."""
    if created:
        return
    named = MLModel.business_processes.through.objects.filter(businessprocess=instance).values_list("mlmodel_id",
                                                                                                   flat=True)
    deployed = Deployment.objects.filter(business_process=instance).values_list("version__model_id", flat=True)
    models = sorted(set(named) | set(deployed))
    if models:
        figures.store(models)


def state_deleted(sender, instance, **kwargs) -> None:
    """A model deleted takes back what its state added to the dashboard's tallies."""
    figures.forget(instance)


def gate_problems(version) -> list[str]:
    """The production gate: the version's state, recomputed now (a rule is checked when it matters), then read."""
    governance_refresh(model_ids=[version.model_id], cause="production gate")
    state = VersionGovernance.objects.get(version_id=version.pk)
    return [reason["message"] for reason in state.blockers]

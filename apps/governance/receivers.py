"""How the governance state hears of changes: the domain apps' signal, user accounts, and the gate."""

from apps.governance.services import governance_refresh
from apps.inventory.models import MLModel, VersionGovernance


def refresh(sender, *, model_ids, actor=None, cause: str = "", **kwargs) -> None:
    governance_refresh(model_ids=model_ids, actor=actor, cause=cause)


def user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """An accountable owner deactivated (or reactivated), from any screen: the models they own change state."""
    if created or (update_fields is not None and "is_active" not in update_fields):
        return
    owned = list(MLModel.objects.filter(accountable_owner=instance).values_list("pk", flat=True))
    if owned:
        governance_refresh(model_ids=owned, cause=f"account of {instance.get_username()} "
                           f"{'reactivated' if instance.is_active else 'deactivated'}")


def gate_problems(version) -> list[str]:
    """The production gate: the version's state, recomputed now (a rule is checked when it matters), then read."""
    governance_refresh(model_ids=[version.model_id], cause="production gate")
    state = VersionGovernance.objects.get(version_id=version.pk)
    return [reason["message"] for reason in state.blockers]

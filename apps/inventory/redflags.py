"""Red flags: what an executive should look at first, gathered from every app that knows of one.

A provider is a function that takes the models in view (a queryset of live
``MLModel`` rows, already narrowed to a business unit when the dashboard is) and
returns ``RedFlag`` rows. It must cost a constant number of queries: filter the
queryset and ``select_related`` what the row needs, never query per model.

Other apps add their own flags by registering a provider when Django starts::

    # apps/risk/redflags.py
    from apps.inventory.redflags import HIGH, RedFlag, register

    @register
    def production_without_approval(models):
        for model in models.filter(stage="production").exclude(...approved...):
            yield RedFlag(HIGH, model.name, "In production without valid approval", "...", model.get_absolute_url())

    # apps/risk/apps.py
    class RiskConfig(AppConfig):
        def ready(self):
            from apps.risk import redflags  # noqa: F401  (registers the providers)

Planned there: "in production without valid approval" (risk/reviews), "overdue
re-assessment" (risk), "breached metric" (monitoring).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.inventory import environment
from apps.inventory.models import Deployment, MLModel, ModelVersion, Stage

HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITY_RANK = {HIGH: 0, MEDIUM: 1, LOW: 2}


@dataclass(frozen=True)
class RedFlag:
    severity: str  # HIGH, MEDIUM or LOW
    model: str  # the model's name
    kind: str  # short, stable label shown in the table and used to count flags, e.g. "Owner has left"
    detail: str  # what exactly is wrong, so the reader can act without opening the model
    url: str  # where to act on it

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, len(SEVERITY_RANK))


Provider = Callable[[QuerySet], Iterable[RedFlag]]
_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> Provider:
    """Add a provider (usable as a decorator); registering the same function twice is harmless."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def providers() -> list[Provider]:
    return list(_PROVIDERS)


def collect(models: QuerySet) -> list[RedFlag]:
    """Every provider's flags for ``models``, most severe first, then by model and kind."""
    flags = [flag for provider in _PROVIDERS for flag in provider(models)]
    return sorted(flags, key=lambda f: (f.severity_rank, f.model.casefold(), f.kind, f.detail))


# --- Inventory's own flags ----------------------------------------------------------------

ENV_MISMATCH = "Runs outside its validated environment"
OWNER_LEFT = "Owner has left"
OWNER_INCOMPLETE = "Owner cannot be reached"
NO_PROCESS = "No business process"
NO_TRAINING_DATA = "Training data not recorded"
NO_FINGERPRINT = "Environment never recorded"


def _owner_name(user) -> str:
    return user.get_full_name() or user.get_username()


@register
def environment_mismatches(models: QuerySet) -> Iterable[RedFlag]:
    """Active production deployments whose runtime differs from the validated environment.

    Compared afresh from both fingerprints rather than read from the stored
    ``environment_mismatch`` column, which goes stale when a version's validated
    environment is edited after deployment.
    """
    deployments = Deployment.objects.filter(
        version__model__in=models, environment=Deployment.Environment.PRODUCTION, retired_at__isnull=True
    ).select_related("version__model").order_by("pk")
    for dep in deployments:
        differences = environment.differences(dep.version.validated_environment, dep.runtime_environment)
        if differences:
            yield RedFlag(HIGH, dep.version.model.name, ENV_MISMATCH,
                          f"{dep.version.version} at {dep.target}: " + "; ".join(map(str, differences)),
                          dep.version.get_absolute_url())


@register
def owners_who_left(models: QuerySet) -> Iterable[RedFlag]:
    for model in models.filter(accountable_owner__is_active=False).select_related("accountable_owner"):
        live = model.stage in (Stage.STAGING, Stage.PRODUCTION)
        yield RedFlag(HIGH if live else MEDIUM, model.name, OWNER_LEFT,
                      f"{_owner_name(model.accountable_owner)} is no longer active; name a new accountable owner.",
                      model.get_absolute_url())


@register
def unreachable_owners(models: QuerySet) -> Iterable[RedFlag]:
    """Production models whose (active) accountable owner has no e-mail address or no name on record."""
    incomplete = Q(accountable_owner__email="") | Q(accountable_owner__first_name="", accountable_owner__last_name="")
    rows = models.filter(incomplete, stage=Stage.PRODUCTION, accountable_owner__is_active=True)
    for model in rows.select_related("accountable_owner"):
        owner = model.accountable_owner
        missing = [what for what, value in (("e-mail address", owner.email), ("name", owner.get_full_name()))
                   if not value]
        yield RedFlag(MEDIUM, model.name, OWNER_INCOMPLETE,
                      f"Accountable owner {owner.get_username()} has no {' and no '.join(missing)} on record.",
                      model.get_absolute_url())


@register
def production_models_without_process(models: QuerySet) -> Iterable[RedFlag]:
    serving = Deployment.objects.filter(version__model=OuterRef("pk"), retired_at__isnull=True,
                                        business_process__isnull=False)
    rows = models.filter(stage=Stage.PRODUCTION, business_processes__isnull=True).exclude(Exists(serving))
    for model in rows:
        yield RedFlag(MEDIUM, model.name, NO_PROCESS,
                      "In production but linked to no business process: nobody can say which decisions it drives.",
                      model.get_absolute_url())


@register
def production_versions_without_training_data(models: QuerySet) -> Iterable[RedFlag]:
    versions = ModelVersion.objects.filter(model__in=models, stage=Stage.PRODUCTION, training_datasets__isnull=True)
    for version in versions.select_related("model").order_by("pk"):
        yield RedFlag(MEDIUM, version.model.name, NO_TRAINING_DATA,
                      f"Version {version.version} is in production with no training data set recorded.",
                      version.get_absolute_url())


@register
def deployments_without_fingerprint(models: QuerySet) -> Iterable[RedFlag]:
    """Environment fidelity cannot be checked when either fingerprint is missing."""
    deployments = Deployment.objects.filter(
        Q(version__validated_environment={}) | Q(runtime_environment={}),
        version__model__in=models, environment=Deployment.Environment.PRODUCTION, retired_at__isnull=True,
    ).select_related("version__model").order_by("pk")
    for dep in deployments:
        missing = "validated" if not dep.version.validated_environment else "runtime"
        yield RedFlag(LOW, dep.version.model.name, NO_FINGERPRINT,
                      f"{dep.version.version} at {dep.target}: no {missing} environment fingerprint, so a "
                      "mismatch cannot be detected.", dep.version.get_absolute_url())


def live_models() -> QuerySet:
    """The models red flags are about: everything not retired."""
    return MLModel.objects.exclude(stage=Stage.RETIRED)

"""Red flags: what an executive should look at first, gathered from the stored governance state and the inventory.

A *source* is one kind of red flag. It names the rows that carry the flag among the
models in view (a queryset of live ``MLModel`` rows, already narrowed to a business
unit when the dashboard is), how severe each is, and how to word one row. The inventory's
own sources (facts of deployments and owners that no governance reason covers) are below;
the flags of governance (approvals, assessments, monitoring, overrides) are the stored
reasons of each model's governance state, in ``redflags_governance.py``::

    # apps/portfolio/redflags_governance.py
    @register
    class MonitoringOverdue(ReasonFlag):
        kind = "Monitoring overdue"
        codes = ("monitoring_overdue",)

``PortfolioConfig.ready`` imports that module, which registers its sources. A source of
another kind subclasses ``Source`` and implements ``rows``, ``detail`` and ``url``.

The dashboard asks two questions whose cost does not grow with the number of flags:
``summary`` counts the flags of every kind per severity, aggregated in SQL (one query
for all sources), and ``top`` returns the most severe flags, each source's rows ordered
and limited in SQL (at most one query per source: none for a source the summary found
nothing in that the first few could show); only the rows shown get their detail and URL.
``collect`` returns every flag, at a cost that grows with them (tests, exports).

Order: most severe first, then by model name (lower-cased by the database, then compared
code point by code point on every database), then kind, then the source's own ``order``
fields, which follow how its details read (e.g. version, then target).
"""

from dataclasses import dataclass, field
from operator import itemgetter

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Lower

from apps.core.db import CodePointOrder
from apps.inventory import environment
from apps.inventory.models import Deployment, MLModel, ModelVersion, Stage

HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITIES = (HIGH, MEDIUM, LOW)
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


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


def severity_if(condition: Q, then: str = HIGH, otherwise: str = MEDIUM) -> Case:
    """A severity that depends on the row, e.g. ``severity_if(Q(stage="production"))``."""
    return Case(When(condition, then=Value(SEVERITY_RANK[then])), default=Value(SEVERITY_RANK[otherwise]),
                output_field=IntegerField())


def within(models: QuerySet, path: str) -> Exists:
    """The condition "the row's model (at ``path``, e.g. ``"version__model"``) is one of ``models``".

    A correlated EXISTS rather than ``version__model__in=models``: with the latter SQLite
    walks every model in view and all its versions to find a handful of flagged rows. Add it
    after the filters on the row's own columns, which SQLite then checks first.
    """
    return Exists(models.filter(pk=OuterRef(path)))


class Source:
    """One kind of red flag; subclass it and ``register`` the subclass.

    ``rows(models)`` must be a single queryset (no evaluation, no per-model query);
    rows of other tables than models narrow themselves with ``within(models, ...)``.
    ``detail`` and ``url`` are called only for the rows shown and may use what
    ``related`` selects. ``order`` holds non-null text fields of a row that order one
    model's rows of this kind the way their details read.
    """

    kind: str = ""
    severity: str | Case = HIGH  # a constant, or ``severity_if(...)`` over the row
    model: str = ""  # path from a row to its MLModel, e.g. "version__model"; "" when the rows are models
    order: tuple[str, ...] = ()
    related: tuple[str, ...] = ()

    def rows(self, models: QuerySet) -> QuerySet:
        raise NotImplementedError

    def detail(self, row) -> str:
        raise NotImplementedError

    def url(self, row) -> str:
        raise NotImplementedError

    def flag(self, row) -> RedFlag:
        return RedFlag(SEVERITIES[row.flag_rank], row.flag_model_name, self.kind, self.detail(row), self.url(row))


_SOURCES: list[Source] = []


def register(source_class: type[Source]) -> type[Source]:
    """Add a source (usable as a class decorator); registering the same class twice is harmless."""
    if not any(type(source) is source_class for source in _SOURCES):
        _SOURCES.append(source_class())
    return source_class


def unregister(source_class: type[Source]) -> None:
    _SOURCES[:] = [source for source in _SOURCES if type(source) is not source_class]


def sources() -> list[Source]:
    return list(_SOURCES)


def _counted_rows(source: Source, models: QuerySet) -> QuerySet:
    """The source's rows with their severity rank and model id (``flag_rank``, ``flag_model_id``)."""
    rank = source.severity if isinstance(source.severity, Case) else Value(SEVERITY_RANK[source.severity])
    return source.rows(models).annotate(flag_rank=rank, flag_model_id=F(source.model or "pk"))


def _flag_rows(source: Source, counted_rows: QuerySet) -> QuerySet:
    """``_counted_rows`` plus the model's name and the sort keys (``flag_model_name``, ``flag_name_key``, ...)."""
    prefix = f"{source.model}__" if source.model else ""
    return counted_rows.annotate(
        flag_model_name=F(f"{prefix}name"), flag_name_key=Lower(f"{prefix}name"),
        **{f"flag_order_{i}": F(path) for i, path in enumerate(source.order)},
    )


# --- What the dashboard asks ------------------------------------------------------------------

@dataclass(frozen=True)
class KindCount:
    kind: str
    by_severity: dict[str, int] = field(default_factory=dict)
    models: int = 0  # distinct models with a flag of this kind

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())


@dataclass(frozen=True)
class Summary:
    """Flags per kind and severity, kinds with the most severe flags first; kinds with no flag are left out."""

    kinds: list[KindCount]
    # The models counted and each source's rows as ``summary`` built them: ``top`` asked about the
    # same models starts from these rather than building every source's queryset again.
    models: QuerySet | None = field(default=None, repr=False, compare=False)
    rows: dict[Source, QuerySet] = field(default_factory=dict, repr=False, compare=False)
    # Each source's flags per severity rank, to skip the sources with nothing ``top`` could show.
    per_source: dict[Source, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds)

    def count(self, kind: str) -> KindCount:
        return next((k for k in self.kinds if k.kind == kind), KindCount(kind))


def summary(models: QuerySet) -> Summary:
    """How many flags of each kind and severity ``models`` carry: one query, counted by the database."""
    if not _SOURCES:
        return Summary([])
    rows = {source: _counted_rows(source, models) for source in _SOURCES}
    parts = [
        rows[source].order_by().annotate(flag_source=Value(index)).values("flag_source").annotate(
            **{severity: Count("pk", filter=Q(flag_rank=rank)) for severity, rank in SEVERITY_RANK.items()},
            # Rows that are models are distinct models already: no need to make the database sort them.
            flag_models=Count("flag_model_id", distinct=bool(source.model)),
        ).values_list("flag_source", *SEVERITIES, "flag_models")
        for index, source in enumerate(_SOURCES)
    ]
    counted = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    kinds: dict[str, KindCount] = {}
    per_source = {source: (0,) * len(SEVERITIES) for source in _SOURCES}  # a source with no flag has no row
    for index, *per_severity, n_models in counted:
        per_source[_SOURCES[index]] = tuple(per_severity)
        kind = _SOURCES[index].kind
        before = kinds.get(kind, KindCount(kind))
        by_severity = {s: before.by_severity.get(s, 0) + n for s, n in zip(SEVERITIES, per_severity, strict=True)}
        kinds[kind] = KindCount(kind, by_severity, before.models + n_models)
    present = [k for k in kinds.values() if k.total]
    return Summary(sorted(present, key=lambda k: ([-k.by_severity[s] for s in SEVERITIES], k.kind)),
                   models=models, rows=rows, per_source=per_source)


def top(models: QuerySet, limit: int | None = 25, *, counts: Summary | None = None) -> list[RedFlag]:
    """The ``limit`` most severe flags of ``models`` in dashboard order (all of them with ``None``).

    Each source's first ``limit`` rows, ordered and cut in SQL, hold every one of its
    rows that can make the overall first ``limit``; merged on the same keys in Python.
    With the ``counts`` of ``summary`` for the same ``models`` no rows of a severity the first
    ``limit`` cannot reach are read, and a source with no such flag runs no query at all: at
    most one query per source, fewer when there is less to show.
    """
    worst = _worst_rank_needed(counts, limit)
    same = counts is not None and counts.models is models
    built = counts.rows if same else {}
    candidates = []
    for index, source in enumerate(_SOURCES):
        if same and not any(counts.per_source[source][:worst + 1]):
            continue  # counted just now: nothing of a severity the first ``limit`` can reach
        counted = built[source] if source in built else _counted_rows(source, models)
        rows = _flag_rows(source, counted).filter(flag_rank__lte=worst).order_by(
            "flag_rank", CodePointOrder("flag_name_key"),
            *(CodePointOrder(f"flag_order_{i}") for i in range(len(source.order))), "pk")
        if source.related:  # select_related() with no field would join every foreign key
            rows = rows.select_related(*source.related)
        for row in rows[:limit] if limit is not None else rows:
            key = (row.flag_rank, row.flag_name_key, source.kind, index,
                   *(getattr(row, f"flag_order_{i}") for i in range(len(source.order))), row.pk)
            candidates.append((key, source, row))
    candidates.sort(key=itemgetter(0))
    return [source.flag(row) for _, source, row in candidates[:limit]]


def _worst_rank_needed(counts: Summary | None, limit: int | None) -> int:
    """The least severe rank the first ``limit`` flags can hold, given how many there are of each."""
    if counts is not None and limit is not None:
        seen = 0
        for rank, severity in enumerate(SEVERITIES):
            seen += sum(k.by_severity.get(severity, 0) for k in counts.kinds)
            if seen >= limit:
                return rank
    return len(SEVERITIES) - 1


def collect(models: QuerySet) -> list[RedFlag]:
    """Every flag of ``models``, in dashboard order. Its cost grows with the flags: not for the dashboard."""
    return top(models, limit=None)


def live_models() -> QuerySet:
    """The models red flags are about: everything not retired."""
    return MLModel.objects.exclude(stage=Stage.RETIRED)


# --- Inventory's own flags ----------------------------------------------------------------

ENV_MISMATCH = "Runs outside its validated environment"
OWNER_INCOMPLETE = "Owner cannot be reached"
NO_PROCESS = "No business process"
NO_TRAINING_DATA = "Training data not recorded"
NO_FINGERPRINT = "Environment never recorded"


def _active_production_deployments() -> QuerySet:
    return Deployment.objects.filter(environment=Deployment.Environment.PRODUCTION, retired_at__isnull=True)


class _DeploymentSource(Source):
    model = "version__model"
    order = ("version__version", "target")
    related = ("version__model",)

    def url(self, deployment) -> str:
        return deployment.version.get_absolute_url()


@register
class EnvironmentMismatches(_DeploymentSource):
    """Active production deployments whose runtime differs from the validated environment.

    Chosen by the stored ``environment_mismatch`` column, which the inventory services
    recompute whenever either fingerprint changes; the differences are worded afresh.
    """

    kind = ENV_MISMATCH

    def rows(self, models: QuerySet) -> QuerySet:
        return _active_production_deployments().filter(environment_mismatch=True).filter(
            within(models, "version__model"))

    def detail(self, deployment) -> str:
        found = environment.differences(deployment.version.validated_environment, deployment.runtime_environment)
        described = "; ".join(map(str, found)) or "; ".join(
            str(environment.Difference(**d)) for d in deployment.mismatch_details)
        return f"{deployment.version.version} at {deployment.target}: {described}"


@register
class DeploymentsWithoutFingerprint(_DeploymentSource):
    """Environment fidelity cannot be checked when either fingerprint is missing."""

    kind = NO_FINGERPRINT
    severity = LOW

    def rows(self, models: QuerySet) -> QuerySet:
        return _active_production_deployments().filter(
            Q(version__validated_environment={}) | Q(runtime_environment={})).filter(within(models, "version__model"))

    def detail(self, deployment) -> str:
        missing = "validated" if not deployment.version.validated_environment else "runtime"
        return (f"{deployment.version.version} at {deployment.target}: no {missing} environment fingerprint, so a "
                "mismatch cannot be detected.")


class _ModelSource(Source):
    def url(self, model) -> str:
        return model.get_absolute_url()


@register
class UnreachableOwners(_ModelSource):
    """Production models whose (active) accountable owner has no e-mail address or no name on record."""

    kind = OWNER_INCOMPLETE
    severity = MEDIUM
    related = ("accountable_owner",)

    def rows(self, models: QuerySet) -> QuerySet:
        incomplete = Q(accountable_owner__email="") | Q(accountable_owner__first_name="",
                                                          accountable_owner__last_name="")
        return models.filter(incomplete, stage=Stage.PRODUCTION, accountable_owner__is_active=True)

    def detail(self, model) -> str:
        owner = model.accountable_owner
        missing = [what for what, value in (("e-mail address", owner.email), ("name", owner.get_full_name()))
                   if not value]
        return f"Accountable owner {owner.get_username()} has no {' and no '.join(missing)} on record."


@register
class ProductionModelsWithoutProcess(_ModelSource):
    kind = NO_PROCESS
    severity = MEDIUM

    def rows(self, models: QuerySet) -> QuerySet:
        # NOT EXISTS rather than a LEFT JOIN: SQLite then skips the costlier deployment check for most models.
        declared = MLModel.business_processes.through.objects.filter(mlmodel=OuterRef("pk"))
        serving = Deployment.objects.filter(version__model=OuterRef("pk"), retired_at__isnull=True,
                                            business_process__isnull=False)
        return models.filter(stage=Stage.PRODUCTION).exclude(Exists(declared)).exclude(Exists(serving))

    def detail(self, model) -> str:
        return "In production but linked to no business process: nobody can say which decisions it drives."


@register
class ProductionVersionsWithoutTrainingData(Source):
    kind = NO_TRAINING_DATA
    severity = MEDIUM
    model = "model"
    order = ("version",)
    related = ("model",)

    def rows(self, models: QuerySet) -> QuerySet:
        trained_on = ModelVersion.training_datasets.through.objects.filter(modelversion=OuterRef("pk"))
        return ModelVersion.objects.filter(stage=Stage.PRODUCTION).exclude(Exists(trained_on)).filter(
            within(models, "model"))

    def detail(self, version) -> str:
        return f"Version {version.version} is in production with no training data set recorded."

    def url(self, version) -> str:
        return version.get_absolute_url()

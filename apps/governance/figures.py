"""What the portfolio reads of every model at any size: its red flags, and the counts it adds to the dashboard.

The dashboard of 100,000 models cannot scan them per request (3.3 s of SQL did). So whenever a model's
governance state is stored, this module stores beside it, in the same transaction:

- its **red flags** (``ModelGovernance.flags``): the governance reasons an executive must see, worded as the
  reasons are, and the inventory's own gaps no reason covers (a production deployment outside its validated
  environment, no business process, ...), one entry per kind, and ``flag_rank``, the most severe one's rank;
- its status, health, approval, rank and reason codes on the model row and in ``ModelReasonCode``, which the
  model list filters and sorts on from indexes;
- its **tally keys** (``ModelGovernance.tally``): what it adds to ``PortfolioTally`` of its business unit
  (``status:non_compliant``, ``reason:monitoring_overdue``, ``flag:owner_left:high``, ``heat:3,4`` per risk of its
  current assessment, ``stage:production``, ...). The counts change by the difference between the keys stored
  before and now, so each count is always the sum over the stored states (``verify_tallies`` checks it).

``store`` works on a batch of models in a constant number of queries, so the same code keeps one model current
inside ``governance_refresh`` and fills 100,000 in minutes (``manage.py refresh_portfolio``, the benchmark).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import BigIntegerField, Case, Exists, F, OuterRef, Sum, Value, When

from apps.governance import exposure
from apps.inventory import environment
from apps.inventory import governance as g
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    Deployment,
    MLModel,
    ModelGovernance,
    ModelReasonCode,
    ModelVersion,
    PortfolioTally,
    Stage,
)
from apps.monitoring.models import Alert
from apps.risk.selectors import current_ratings_of

HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITIES = (HIGH, MEDIUM, LOW)
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
GRAVE = (g.NON_COMPLIANT, g.SUSPENDED)


@dataclass(frozen=True)
class Kind:
    """One kind of red flag: a stable ``code`` (tally keys, tests) and the label an executive reads."""

    code: str
    label: str
    reason_codes: tuple[str, ...] = ()  # governance kinds: the reasons that raise it
    grave_only: bool = True  # raised only when the model is non-compliant or suspended
    severity: str = ""  # fixed severity; "" = high when the model is non-compliant or suspended, else medium


# Governance kinds first, in the order the reasons matter; then the inventory's own.
KINDS = (
    Kind("incident_open", "Open incident", ("incident_report_overdue", "incident_open"), grave_only=False,
         severity=HIGH),
    Kind("approval_suspended", "Approval suspended", ("approval_suspended",)),
    Kind("breach", "Metric in breach", ("alert_breach",)),
    Kind("never_evaluated", "Never evaluated in production", ("monitoring_never",)),
    Kind("monitoring_overdue", "Monitoring overdue", ("monitoring_overdue",)),
    Kind("unapproved", "In production without valid approval",
         ("approval_missing", "approval_void", "approval_insufficient")),
    Kind("shadow_promotion", "Promoted in MLflow without approval", ("shadow_promotion",), grave_only=False,
         severity=HIGH),
    Kind("not_assessed", "Never risk-assessed", ("not_assessed",)),
    Kind("reassessment_requested", "Risk re-assessment requested", ("reassessment_requested",)),
    Kind("assessment_overdue", "Re-assessment overdue", ("assessment_overdue",), grave_only=False),
    Kind("owner_left", "Owner has left", ("owner_inactive",), grave_only=False),
    Kind("finding_blocking", "Open blocking finding", ("finding_blocking",), grave_only=False),
    Kind("gate_overridden", "Production gate overridden", ("gate_overridden",), grave_only=False, severity=MEDIUM),
    Kind("env_mismatch", "Runs outside its validated environment", severity=HIGH),
    Kind("owner_unreachable", "Owner cannot be reached", severity=MEDIUM),
    Kind("no_process", "No business process", severity=MEDIUM),
    Kind("no_training_data", "Training data not recorded", severity=MEDIUM),
    Kind("no_fingerprint", "Environment never recorded", severity=LOW),
)
KIND_BY_CODE = {kind.code: kind for kind in KINDS}


@dataclass
class DeploymentFact:
    version: str
    version_url: str
    target: str
    environment: str
    business_process_id: int | None
    mismatch: bool
    mismatch_details: list
    validated: dict
    runtime: dict


@dataclass
class Facts:
    """What a model's flags and tally keys depend on beyond its stored state, gathered for many models at once."""

    unit_id: int
    on_model_row: tuple  # (status, health, approval, rank) as kept on the model row for the list
    name: str
    url: str
    stage: str
    exposure: str
    automation_level: str
    owner_username: str
    owner_active: bool
    owner_email: str
    owner_named: bool
    declared_processes: set[int] = field(default_factory=set)
    deployments: list[DeploymentFact] = field(default_factory=list)  # active ones
    untrained_production_versions: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    ratings: list[tuple[int, int]] = field(default_factory=list)  # (probability, impact) of the current assessment
    reason_codes: set[str] = field(default_factory=set)  # as kept in ModelReasonCode rows for the list's filter
    breached_metrics: list[str] = field(default_factory=list)  # open breach alerts of its production versions
    process_values: dict = field(default_factory=dict)  # value at stake of each process it names or runs for

    @property
    def live(self) -> bool:
        return self.stage != Stage.RETIRED

    def production_deployments(self) -> list[DeploymentFact]:
        return [d for d in self.deployments if d.environment == Deployment.Environment.PRODUCTION]


def gather(model_ids: Iterable[int]) -> dict[int, Facts]:
    """The facts of these models: eight queries whatever their number."""
    ids = sorted(set(model_ids))
    found = {}
    for model in MLModel.objects.filter(pk__in=ids).select_related("team", "accountable_owner"):
        owner = model.accountable_owner
        found[model.pk] = Facts(
            unit_id=model.team.business_unit_id, name=model.name,
            on_model_row=(model.governance_status, model.governance_health, model.governance_approval,
                          model.governance_rank),
            url=model.get_absolute_url(), stage=model.stage,
            exposure=model.exposure, automation_level=model.automation_level, owner_username=owner.get_username(),
            owner_active=owner.is_active, owner_email=owner.email,
            owner_named=bool(owner.first_name or owner.last_name))
    for model_id, process_id in MLModel.business_processes.through.objects.filter(mlmodel_id__in=ids).values_list(
            "mlmodel_id", "businessprocess_id"):
        found[model_id].declared_processes.add(process_id)
    for deployment in (Deployment.objects.filter(version__model_id__in=ids, retired_at__isnull=True)
                       .select_related("version__model").order_by("version__version", "target", "pk")):
        version = deployment.version
        found[version.model_id].deployments.append(DeploymentFact(
            version=version.version, version_url=version.get_absolute_url(), target=deployment.target,
            environment=deployment.environment, business_process_id=deployment.business_process_id,
            mismatch=deployment.environment_mismatch, mismatch_details=deployment.mismatch_details,
            validated=version.validated_environment, runtime=deployment.runtime_environment))
    processes = {pk for facts in found.values() for pk in facts.declared_processes}
    processes |= {d.business_process_id for facts in found.values() for d in facts.deployments if d.business_process_id}
    values = dict(BusinessProcess.objects.filter(pk__in=sorted(processes)).values_list("pk", "value_at_stake"))
    for facts in found.values():
        facts.process_values = {pk: values.get(pk) for pk in facts.declared_processes | {
            d.business_process_id for d in facts.deployments if d.business_process_id}}
    trained_on = ModelVersion.training_datasets.through.objects.filter(modelversion=OuterRef("pk"))
    for version in (ModelVersion.objects.filter(model_id__in=ids, stage=Stage.PRODUCTION)
                    .exclude(Exists(trained_on)).select_related("model").order_by("version", "pk")):
        found[version.model_id].untrained_production_versions.append((version.version, version.get_absolute_url()))
    for model_id, probability, impact in current_ratings_of(ids):
        found[model_id].ratings.append((probability, impact))
    for model_id, code in ModelReasonCode.objects.filter(model_id__in=ids).values_list("model_id", "code"):
        found[model_id].reason_codes.add(code)
    breaches = Alert.objects.filter(model_id__in=ids, severity=Alert.Severity.BREACH, version__stage=Stage.PRODUCTION)
    for model_id, metric in (breaches.exclude(status=Alert.Status.RESOLVED).order_by("metric")
                             .values_list("model_id", "metric")):
        found[model_id].breached_metrics.append(metric)
    return found


# --- Flags ------------------------------------------------------------------------------------------

def _flag(kind: Kind, severity: str, detail: str, url: str, **facts) -> dict:
    """One stored flag; ``facts`` are what its plain phrase counts (``phrase``), e.g. the breached metrics."""
    return {"kind": kind.code, "label": kind.label, "severity": severity, "detail": detail, "url": url, **facts}


def _reason_flags(state: dict, facts: Facts) -> list[dict]:
    grave = state["status"] in GRAVE
    flags = []
    for kind in KINDS:
        if not kind.reason_codes or (kind.grave_only and not grave):
            continue
        reasons = [r for r in state["reasons"] if r["code"] in kind.reason_codes]
        if reasons:
            severity = kind.severity or (HIGH if grave else MEDIUM)
            extra = {"codes": sorted({r["code"] for r in reasons})}
            if kind.code == "breach":
                extra["metrics"] = facts.breached_metrics
            flags.append(_flag(kind, severity, " ".join(r["message"] for r in reasons),
                               next((r["url"] for r in reasons if r.get("url")), ""), **extra))
    return flags


def _inventory_flags(facts: Facts) -> list[dict]:
    flags = []
    production = facts.production_deployments()
    mismatched = [d for d in production if d.mismatch]
    if mismatched:
        def described(d: DeploymentFact) -> str:
            found = environment.differences(d.validated, d.runtime)
            return "; ".join(map(str, found)) or "; ".join(
                str(environment.Difference(**detail)) for detail in d.mismatch_details)
        flags.append(_flag(KIND_BY_CODE["env_mismatch"], HIGH,
                           " ".join(f"{d.version} at {d.target}: {described(d)}." for d in mismatched),
                           mismatched[0].version_url, n=len(mismatched)))
    if facts.stage == Stage.PRODUCTION and facts.owner_active and not (facts.owner_email and facts.owner_named):
        missing = [what for what, present in (("e-mail address", facts.owner_email), ("name", facts.owner_named))
                   if not present]
        flags.append(_flag(KIND_BY_CODE["owner_unreachable"], MEDIUM,
                           f"Accountable owner {facts.owner_username} has no {' and no '.join(missing)} on record.",
                           facts.url))
    if facts.stage == Stage.PRODUCTION and not facts.declared_processes and not any(
            d.business_process_id for d in facts.deployments):
        flags.append(_flag(KIND_BY_CODE["no_process"], MEDIUM, "In production but linked to no business process: "
                           "nobody can say which decisions it drives.", facts.url))
    if facts.untrained_production_versions:
        flags.append(_flag(KIND_BY_CODE["no_training_data"], MEDIUM, " ".join(
            f"Version {label} is in production with no training data set recorded."
            for label, _url in facts.untrained_production_versions), facts.untrained_production_versions[0][1]))
    unfingerprinted = [d for d in production if not d.validated or not d.runtime]
    if unfingerprinted:
        flags.append(_flag(KIND_BY_CODE["no_fingerprint"], LOW, " ".join(
            f"{d.version} at {d.target}: no {'validated' if not d.validated else 'runtime'} environment "
            "fingerprint, so a mismatch cannot be detected." for d in unfingerprinted), unfingerprinted[0].version_url))
    return flags


def flags_for(state: dict, facts: Facts) -> list[dict]:
    """A live model's red flags, most severe first (then in the order of ``KINDS``); none for a retired one."""
    if not facts.live:
        return []
    order = {kind.code: i for i, kind in enumerate(KINDS)}
    return sorted(_reason_flags(state, facts) + _inventory_flags(facts),
                  key=lambda f: (SEVERITY_RANK[f["severity"]], order[f["kind"]]))


# --- Expected exposure ------------------------------------------------------------------------------

def served(facts: Facts) -> set[int]:
    """The processes a model serves in production: those its production deployments run for, and those it
    names when it is in production itself."""
    processes = {d.business_process_id for d in facts.production_deployments() if d.business_process_id}
    if facts.stage == Stage.PRODUCTION:
        processes |= facts.declared_processes
    return processes


def exposure_shares(state: dict, facts: Facts) -> dict[int, int]:
    """Its expected exposure per process it serves in production (``apps.governance.exposure``)."""
    values = {pk: facts.process_values.get(pk) for pk in served(facts)}
    return exposure.shares(values, tier=state["tier"] or "", status=state["status"])


# --- Tally keys -------------------------------------------------------------------------------------

WEIGHT = "*"  # "money*1500" in a stored tally adds 1500 to the key "money"


def weighted_counts(keys: Iterable[str]) -> Counter:
    """A stored tally as counts: each key adds one, a weighted key (``key*n``) adds n."""
    counts = Counter()
    for key in keys:
        name, weight, n = key.partition(WEIGHT)
        counts[name] += int(n) if weight else 1
    return counts


def tally_keys(state: dict, facts: Facts, flags: list[dict], shares: dict[int, int] | None = None) -> list[str]:
    """The keys this model adds to its unit's tally (a key may repeat: the heat map counts risks; a weighted key
    adds its amount: ``money`` is the unit's expected exposure, ``money:<process id>`` the process's)."""
    keys = [f"stage:{facts.stage}"]
    production_processes = served(facts)
    keys += [f"serves:{pk}" for pk in sorted(production_processes)]
    if not facts.live:
        return keys
    covered = facts.declared_processes | {d.business_process_id for d in facts.deployments if d.business_process_id}
    keys += [f"covers:{pk}" for pk in sorted(covered)]
    keys += ["live", f"exposure:{facts.exposure}|{facts.automation_level}", f"status:{state['status']}",
             f"health:{state['health']}", f"approval:{state['approval']}", f"tier:{state['tier']}"]
    keys += [f"reason:{code}" for code in sorted({r["code"] for r in state["reasons"]})]
    keys += [f"flag:{f['kind']}:{f['severity']}" for f in flags]
    if flags:
        keys.append("flagged")
    if any(d.mismatch for d in facts.deployments):
        keys.append("env_mismatch")
    keys += [f"heat:{p},{i}" for p, i in sorted(facts.ratings)]
    if shares:
        keys.append(f"money{WEIGHT}{sum(shares.values())}")
        keys += [f"money:{pk}{WEIGHT}{amount}" for pk, amount in sorted(shares.items())]
    return keys


# --- Storing ---------------------------------------------------------------------------------------

def _apply(delta: Counter) -> None:
    """Add ``delta`` ((unit id, key) -> change) to the tallies: one UPDATE per business unit, and an INSERT for
    keys the unit has never counted. PostgreSQL's UPDATE walks the (unit, key) index, so concurrent writers
    lock a unit's rows in the same order and never deadlock."""
    by_unit: dict[int, dict[str, int]] = {}
    for (unit, key), n in delta.items():
        if n:
            by_unit.setdefault(unit, {})[key] = n
    for unit, changes in sorted(by_unit.items()):
        rows = PortfolioTally.objects.filter(business_unit_id=unit, key__in=list(changes))
        moved = rows.update(n=F("n") + Case(*(When(key=key, then=Value(n)) for key, n in changes.items()),
                                            output_field=BigIntegerField()))
        if moved < len(changes):
            present = set(rows.values_list("key", flat=True))
            missing = {key: n for key, n in changes.items() if key not in present}
            # Created at 0 and then moved, so a row another transaction created meanwhile is added to, not lost.
            PortfolioTally.objects.bulk_create([PortfolioTally(business_unit_id=unit, key=key, n=0)
                                                for key in sorted(missing)], ignore_conflicts=True)
            PortfolioTally.objects.filter(business_unit_id=unit, key__in=list(missing)).update(
                n=F("n") + Case(*(When(key=key, then=Value(n)) for key, n in missing.items()),
                                output_field=BigIntegerField()))


def fresh(row: ModelGovernance, facts: Facts) -> dict:
    """The portfolio fields of ``row`` (a stored state) as they should be now."""
    state = {"status": row.status, "health": row.health, "approval": row.approval, "tier": row.tier,
             "reasons": row.reasons}
    flags = flags_for(state, facts)
    shares = exposure_shares(state, facts) if facts.live else {}
    return {"name_key": facts.name.lower(), "flags": flags,
            "flag_rank": min((SEVERITY_RANK[f["severity"]] for f in flags), default=None),
            "business_unit_id": facts.unit_id, "tally": tally_keys(state, facts, flags, shares),
            "expected_exposure": sum(shares.values())}


FIELDS = ("name_key", "flags", "flag_rank", "business_unit_id", "tally", "expected_exposure")


@transaction.atomic
def store(model_ids: Iterable[int]) -> int:
    """Store the flags and tally keys of these models' stored states and move the tallies by the difference.

    Returns how many models changed. A constant number of queries per batch, plus one UPDATE per business unit
    whose counts moved (and one DELETE per reason code a model lost).
    """
    ids = sorted(set(model_ids))
    rows = list(ModelGovernance.objects.select_for_update().filter(model_id__in=ids).order_by("model_id"))
    facts = gather(row.model_id for row in rows)
    delta, changed, model_rows, codes_gone, codes_new = Counter(), [], [], [], []
    for row in rows:
        values, known = fresh(row, facts[row.model_id]), facts[row.model_id]
        if known.on_model_row != (row.status, row.health, row.approval, row.rank):
            model_rows.append(MLModel(pk=row.model_id, governance_status=row.status, governance_health=row.health,
                                      governance_approval=row.approval, governance_rank=row.rank))
        codes = set(row.codes)
        codes_gone += [(row.model_id, code) for code in known.reason_codes - codes]
        codes_new += [ModelReasonCode(model_id=row.model_id, code=code) for code in sorted(codes - known.reason_codes)]
        if all(getattr(row, name) == values[name] for name in FIELDS):
            continue
        if row.tally is not None:
            delta.subtract({(row.business_unit_id, key): n for key, n in weighted_counts(row.tally).items()})
        delta.update({(values["business_unit_id"], key): n for key, n in weighted_counts(values["tally"]).items()})
        for name, value in values.items():
            setattr(row, name, value)
        changed.append(row)
    if changed:
        ModelGovernance.objects.bulk_update(changed, FIELDS, batch_size=500)
    if model_rows:
        MLModel.objects.bulk_update(model_rows, ["governance_status", "governance_health", "governance_approval",
                                                 "governance_rank"], batch_size=500)
    for model_id, code in codes_gone:
        ModelReasonCode.objects.filter(model_id=model_id, code=code).delete()
    ModelReasonCode.objects.bulk_create(codes_new, batch_size=1000)
    _apply(delta)
    return len(changed)


def forget(row: ModelGovernance) -> None:
    """A state deleted with its model: take back what it added."""
    if row.tally is not None and row.business_unit_id is not None:
        _apply(Counter({(row.business_unit_id, key): -n for key, n in weighted_counts(row.tally).items()}))


def stored_sums() -> Counter:
    """Every (unit id, key) count as the stored states add up (what the tallies must hold)."""
    sums = Counter()
    for unit, keys in ModelGovernance.objects.filter(tally__isnull=False).values_list(
            "business_unit_id", "tally").iterator(chunk_size=2000):
        sums.update({(unit, key): n for key, n in weighted_counts(keys).items()})
    return sums


def verify_tallies() -> list[tuple[int, str, int, int]]:
    """(unit id, key, counted, stored states' sum) for every tally that differs from its stored states."""
    counted = Counter({(unit, key): n for unit, key, n in
                       PortfolioTally.objects.values_list("business_unit_id", "key", "n")})
    expected = stored_sums()
    return [(unit, key, counted[(unit, key)], expected[(unit, key)])
            for unit, key in sorted(set(counted) | set(expected), key=lambda k: (k[0] or 0, k[1]))
            if counted[(unit, key)] != expected[(unit, key)]]


@transaction.atomic
def rebuild_tallies() -> None:
    """Recount every tally from the stored states (after a bulk load or a repair)."""
    units = set(BusinessUnit.objects.values_list("pk", flat=True))
    PortfolioTally.objects.all().delete()
    PortfolioTally.objects.bulk_create(
        [PortfolioTally(business_unit_id=unit, key=key, n=n) for (unit, key), n in sorted(stored_sums().items())
         if n and unit in units], batch_size=1000)


def tallies(business_unit_id: int | None = None) -> Counter:
    """The summed counts of every key over all units (or one): one query."""
    rows = PortfolioTally.objects.filter(n__gt=0)
    if business_unit_id is not None:
        rows = rows.filter(business_unit_id=business_unit_id)
    return Counter(dict(rows.order_by().values("key").annotate(total=Sum("n")).values_list("key", "total")))

"""Writes of the governance state: recompute from the facts, store, audit each change.

``governance_refresh`` runs in the transaction of whatever changed a fact (the domain services send
``apps.inventory.signals.governance_inputs_changed``; this app listens). ``governance_refresh_due``
is the beat task's body for what time alone changes. ``governance_verify`` is the check the
``verify_governance`` command and CI run: every stored state equals a fresh computation.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.roles import Capability, require
from apps.core.services import audit_record
from apps.governance import facts, figures
from apps.inventory import governance as g
from apps.inventory.models import MLModel, ModelGovernance, ModelVersion, VersionGovernance
from apps.notifications.services import notify
from apps.risk.models import RiskAcceptance
from apps.risk.selectors import obligations_for

logger = logging.getLogger(__name__)

MAX_ACCEPTANCE_DAYS = 180


def codes_field(codes) -> str:
    """``ModelGovernance.reason_codes``: sorted, comma-delimited with commas at both ends."""
    unique = sorted(set(codes))
    return f",{','.join(unique)}," if unique else ""


def _fix_url(fix: str, model: MLModel, version: ModelVersion | None, ref: int | None = None) -> str:
    if fix == g.FIX_FINDING and ref is not None:
        return reverse("findings:finding", kwargs={"pk": ref})
    if fix == g.FIX_INCIDENT and ref is not None:
        return reverse("findings:incident", kwargs={"pk": ref})
    if fix == g.FIX_ASSESSMENT:
        return reverse("risk:model", kwargs={"slug": model.slug})
    if fix == g.FIX_MONITORING:
        return reverse("monitoring:model", kwargs={"slug": model.slug})
    if version is not None and fix == g.FIX_REVIEW:
        return reverse("reviews:version", kwargs={"version_id": version.pk})
    if version is not None and fix == g.FIX_ACCEPTANCE:
        return reverse("governance:accept", kwargs={"version_id": version.pk})
    if version is not None and fix == g.FIX_DEPLOYMENTS:
        return version.get_absolute_url() + "#deployments"
    return model.get_absolute_url()


def _stored(state: g.State, model: MLModel, version: ModelVersion | None, versions_by_label=None) -> dict:
    reasons = []
    for reason in state.reasons:
        # A model's reasons name their version ("Version 2.0: ..."); link to that version's page.
        target = version or (versions_by_label or {}).get(reason.version)
        reasons.append({**reason.as_dict(), "url": _fix_url(reason.fix, model, target, reason.ref)})
    return {"status": state.status, "health": state.health, "approval": state.approval,
            "reasons": reasons, "reason_codes": codes_field(r.code for r in state.reasons),
            "rank": g.ORDER[state.status],
            "recheck_at": state.recheck_at}


def _save(row_class, key: dict, values: dict, *, obj, actor, cause: str, now) -> bool:
    """Store ``values``; audit when status, health or approval changed. True when anything changed."""
    row = row_class.objects.select_for_update().filter(**key).first()
    before = {name: getattr(row, name) for name in values} if row else None
    if before == values:
        return False
    if row is None:
        row = row_class(**key)
    for name, value in values.items():
        setattr(row, name, value)
    row.computed_at = now
    row.save()
    changes = {name: [before[name] if before else None, values[name]]
               for name in ("status", "health", "approval") if not before or before[name] != values[name]}
    if changes:
        audit_record(actor=actor, action="governance.changed", obj=obj, changes=changes,
                     reason=cause or "; ".join(r["message"] for r in values["reasons"])[:1000])
    return True


@dataclass(frozen=True)
class Computed:
    model: MLModel
    model_values: dict
    versions: list[tuple[ModelVersion, dict, bool]]


def compute(model: MLModel, *, now=None) -> Computed:
    """A fresh computation of the model's and each of its versions' state (stores nothing)."""
    now = now or timezone.now()
    obligations = obligations_for(model)
    model_facts = facts.model_facts(model, obligations)
    policy = facts.policy_facts(obligations)
    tier = obligations.tier or ""
    versions, labelled = [], []
    for version in ModelVersion.objects.filter(model=model).order_by("pk"):
        version.model = model
        state = g.version_state(facts.version_facts(version, policy, now=now), model_facts, now=now)
        versions.append((version, {**_stored(state, model, version), "tier": tier}, state.gate_open))
        labelled.append((version.version, version.stage, state))
    state = g.model_state(model_facts, labelled, now=now)
    by_label = {version.version: version for version, _values, _gate in versions}
    return Computed(model, {**_stored(state, model, None, by_label), "tier": tier}, versions)


def _tell_owner_if_worse(model: MLModel, rank_before: int | None, values: dict) -> None:
    """The accountable owner hears when the model becomes non-compliant or suspended, with what to do.

    Not on a first computation (a database upgraded to stored states would otherwise notify every owner at once).
    """
    rank = g.ORDER[values["status"]]
    if rank_before is None or rank < g.ORDER[g.NON_COMPLIANT] or rank <= rank_before:
        return
    worst = [r for r in values["reasons"] if r["level"] == values["status"]]
    notify(recipient=model.accountable_owner,
           subject=f"{model} is now {g.STATUS_LABELS[values['status']].lower()}",
           body=" ".join(r["message"] for r in worst[:3]),
           url=worst[0]["url"] if worst else model.get_absolute_url(), kind="governance_worse",
           action="Fix what it lacks" if worst else "Open the model")


@transaction.atomic
def governance_refresh(*, model_ids: Iterable[int], actor=None, cause: str = "", now=None) -> int:
    """Recompute and store the state of these models and their versions; returns how many rows changed."""
    now = now or timezone.now()
    changed, stored = 0, []
    for model in MLModel.objects.filter(pk__in=set(model_ids)).select_related("accountable_owner").order_by("pk"):
        computed = compute(model, now=now)
        for version, values, gate_open in computed.versions:
            changed += _save(VersionGovernance, {"version": version}, {**values, "gate_open": gate_open}, obj=version,
                             actor=actor, cause=cause, now=now)
        before = ModelGovernance.objects.filter(model=model).values_list("rank", flat=True).first()
        changed += _save(ModelGovernance, {"model": model}, computed.model_values, obj=model, actor=actor,
                         cause=cause, now=now)
        _tell_owner_if_worse(model, before, computed.model_values)
        stored.append(model.pk)
    # The portfolio's figures of these models (red flags, the dashboard's counts) move in the same transaction.
    changed += figures.store(stored)
    return changed


def governance_refresh_due(*, now=None, batch: int = 500) -> int:
    """Beat task body: recompute the models whose state time alone may have changed (``recheck_at`` passed)."""
    now = now or timezone.now()
    due = set(ModelGovernance.objects.filter(recheck_at__lte=now).values_list("model_id", flat=True)[:batch])
    due |= set(VersionGovernance.objects.filter(recheck_at__lte=now)
               .values_list("version__model_id", flat=True)[:batch])
    # A model registered before governance was stored has no row yet.
    due |= set(MLModel.objects.filter(governance__isnull=True).values_list("pk", flat=True)[:batch])
    # A state stored before the portfolio's figures were (an upgraded database): store them.
    due |= set(ModelGovernance.objects.filter(tally__isnull=True).values_list("model_id", flat=True)[:batch])
    changed = 0
    for model_id in sorted(due):
        changed += governance_refresh(model_ids=[model_id], cause="time passed", now=now)
    return changed


@dataclass(frozen=True)
class Difference:
    object: str
    field: str
    stored: object
    fresh: object


def governance_verify(*, fix: bool = False, now=None) -> list[Difference]:
    """Every stored state compared with a fresh computation; ``fix`` stores the fresh one (audited)."""
    now = now or timezone.now()
    differences: list[Difference] = []
    stored_models = {row.pk: row for row in ModelGovernance.objects.all()}
    stored_versions = {row.pk: row for row in VersionGovernance.objects.all()}
    for model in MLModel.objects.select_related("accountable_owner").order_by("pk").iterator(chunk_size=200):
        computed = compute(model, now=now)
        rows = [(f"model {model.slug}", stored_models.get(model.pk), computed.model_values)]
        rows += [(f"version {model.slug} {version.version}", stored_versions.get(version.pk), values)
                 for version, values, _gate in computed.versions]
        found = []
        for name, row, values in rows:
            if row is None:
                found.append(Difference(name, "(row)", None, values["status"]))
                continue
            found += [Difference(name, field, getattr(row, field), values[field])
                      for field in ("status", "health", "approval", "tier", "reason_codes")
                      if getattr(row, field) != values[field]]
        differences += found
        if found and fix:
            governance_refresh(model_ids=[model.pk], cause="verify_governance --fix", now=now)
    differences += _verify_figures(fix=fix)
    return differences


def _verify_figures(*, fix: bool) -> list[Difference]:
    """The red flags and tally keys stored with each state, and the dashboard's tallies, against fresh ones."""
    differences, stale = [], []
    rows = list(ModelGovernance.objects.order_by("pk"))
    for start in range(0, len(rows), 500):
        batch = rows[start:start + 500]
        gathered = figures.gather(row.pk for row in batch)
        for row in batch:
            if row.pk not in gathered:
                continue
            known = gathered[row.pk]
            values = figures.fresh(row, known)
            found = [Difference(f"model {row.model_id}", name, getattr(row, name), values[name])
                     for name in figures.FIELDS if getattr(row, name) != values[name]]
            on_row = (row.status, row.health, row.approval, row.rank)
            if known.on_model_row != on_row:
                found.append(Difference(f"model {row.model_id}", "copy on the model row", known.on_model_row, on_row))
            if known.reason_codes != set(row.codes):
                found.append(Difference(f"model {row.model_id}", "reason code rows", sorted(known.reason_codes),
                                        row.codes))
            differences += found
            if found:
                stale.append(row.pk)
    if fix and stale:
        figures.store(stale)
    counts = figures.verify_tallies()
    differences += [Difference(f"tally of unit {unit}", key, counted, expected)
                    for unit, key, counted, expected in counts]
    if fix and counts:
        figures.rebuild_tallies()
    return differences


# --- Risk acceptance ------------------------------------------------------------------------------

@transaction.atomic
def risk_accept(*, actor, version: ModelVersion, reason: str, expires_on: date) -> RiskAcceptance:
    """A reviewer lifts a breach's suspension for a while, with a reason; audited, and it expires."""
    require(actor, Capability.ACCEPT_RISK)
    model = version.model
    if actor.pk == model.accountable_owner_id or model.technical_owners.filter(pk=actor.pk).exists() \
            or actor.pk == version.created_by_id:
        raise PermissionDeniedError("Four-eyes rule: you own or built this model, so someone independent must "
                                    "accept its risk.")
    reason = (reason or "").strip()
    if len(reason) < 20:
        raise DomainError("Say why the model may keep running despite the breach and what is being done "
                          "(at least 20 characters).")
    today = timezone.localdate()
    if expires_on < today:
        raise DomainError("The acceptance must last at least until today.")
    if (expires_on - today).days > MAX_ACCEPTANCE_DAYS:
        raise DomainError(f"An acceptance lasts at most {MAX_ACCEPTANCE_DAYS} days; record a new one when it ends.")
    state = VersionGovernance.objects.filter(version=version).first()
    if state is None or state.approval != g.APPROVAL_SUSPENDED:
        raise DomainError(f"{version} has no suspended approval; there is nothing to accept.")
    acceptance = RiskAcceptance.objects.create(version=version, accepted_by=actor, reason=reason,
                                               expires_on=expires_on)
    audit_record(actor=actor, action="risk.accepted", obj=version,
                 changes={"expires_on": [None, expires_on.isoformat()]}, reason=reason)
    governance_refresh(model_ids=[model.pk], actor=actor, cause=f"risk accepted until {expires_on:%Y-%m-%d}")
    return acceptance

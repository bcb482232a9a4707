"""The facts of a model's governance, read through each domain app's selectors.

This is the one place that asks every domain app about a model; ``apps.inventory.governance`` turns the
facts into a state, and ``apps.governance.services`` stores it.
"""

from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce

from apps.findings.selectors import open_findings_of, open_incidents_of
from apps.inventory import governance as g
from apps.inventory.models import (
    Deployment,
    ExternalRegistryLink,
    GateOverride,
    MLModel,
    ModelVersion,
    Stage,
    StageTransition,
)
from apps.monitoring.models import Alert, Evaluation, MetricWindow
from apps.reviews.services import approval_facts
from apps.risk.models import RiskAcceptance

# An override is recorded in the same transaction as the promotion it allows, moments before it.
OVERRIDE_WINDOW = timedelta(minutes=5)


def model_facts(model: MLModel, obligations) -> g.ModelFacts:
    owner = model.accountable_owner
    pending = (obligations.reassessment_pending,) if obligations.reassessment_pending else ()
    return g.ModelFacts(name=model.name, assessed=obligations.assessed, reassessment_due=obligations.reassessment_due,
                        reassessment_requested=pending, owner_active=owner.is_active,
                        owner_name=owner.get_full_name() or owner.username, open_incidents=_incidents(model))


def _incidents(model: MLModel) -> tuple[g.OpenIncident, ...]:
    return tuple(g.OpenIncident(ref=i.pk, title=i.title, aware_on=i.aware_at.date(), report_deadline=i.report_deadline,
                                reported=i.reported_at is not None) for i in open_incidents_of(model))


def policy_facts(obligations) -> g.Policy:
    policy = obligations.policy
    if policy is None:  # a database without policies: nothing is demanded beyond an approval
        return g.Policy(tier=obligations.tier, required_approvals=1)
    return g.Policy(tier=obligations.tier, required_approvals=policy.required_approvals,
                    checklists=tuple(policy.checklists), monitoring_cadence=policy.monitoring_cadence,
                    suspend_on_breach=policy.suspend_on_breach, finding_blocks_from=policy.finding_blocks_from)


def _approval(version: ModelVersion) -> g.Approval | None:
    facts = approval_facts(version)
    if facts is None:
        return None
    if facts.void:
        return g.Approval(content_matches=False, approvals=0, required=0)
    status = facts.status
    return g.Approval(content_matches=True, approvals=status.approvals, required=status.required,
                      missing_checklists=status.missing_checklists, decided_at=facts.decided_at,
                      discounted=status.discounted)


def _in_production_since(version: ModelVersion) -> datetime | None:
    """Since when it runs in production: its last move to the stage, or its earliest live production deployment
    when that is older (a deployment recorded with its real date, an import of an existing estate)."""
    if version.stage != Stage.PRODUCTION:
        return None
    moved = StageTransition.objects.filter(version=version, to_stage=Stage.PRODUCTION).aggregate(at=Max("at"))["at"]
    deployed = Deployment.objects.filter(version=version, environment=Deployment.Environment.PRODUCTION,
                                         retired_at__isnull=True).aggregate(at=Min("deployed_at"))["at"]
    return min((t for t in (moved, deployed) if t is not None), default=version.updated_at)


def _last_evidence(version: ModelVersion) -> datetime | None:
    """The end of the newest production data monitored: an evaluation's period (when it was computed, if its rows
    carry no timestamps) or a metric window's end. A six-month-old log uploaded today is six months old evidence."""
    evaluated = (Evaluation.objects.filter(version=version, kind=Evaluation.Kind.PRODUCTION,
                                           status=Evaluation.Status.DONE)
                 .aggregate(at=Max(Coalesce("period_end", "finished_at")))["at"])
    windowed = MetricWindow.objects.filter(version=version).aggregate(at=Max("window_end"))["at"]
    return max((t for t in (evaluated, windowed) if t is not None), default=None)


def _shadow_marks(version: ModelVersion) -> tuple[str, ...]:
    """What external registries say puts the version in production there ("alias champion on MLflow prod")."""
    marks = []
    for link in ExternalRegistryLink.objects.filter(version=version).order_by("registry", "name"):
        where = link.registry_label or link.registry
        marks += [f"{mark} on {where}" for mark in link.production_marks]
    return tuple(marks)


def version_facts(version: ModelVersion, policy: g.Policy, *, now: datetime) -> g.VersionFacts:
    alerts = Alert.objects.filter(version=version)
    open_alerts = alerts.exclude(status=Alert.Status.RESOLVED)
    counts = open_alerts.aggregate(
        breaches=Count("pk", filter=Q(severity=Alert.Severity.BREACH)),
        warnings=Count("pk", filter=Q(severity=Alert.Severity.WARNING)))
    last_breach = alerts.aggregate(at=Max("breach_at"))["at"]
    acceptance = None
    if last_breach is not None:
        acceptance = (RiskAcceptance.objects.filter(version=version, created_at__gte=last_breach,
                                                    expires_on__gte=now.date())
                      .select_related("accepted_by").order_by("-expires_on").first())
    since = _in_production_since(version)
    overridden = since is not None and GateOverride.objects.filter(
        version=version, created_at__gte=since - OVERRIDE_WINDOW).exists()
    mismatch = Deployment.objects.filter(version=version, environment=Deployment.Environment.PRODUCTION,
                                         retired_at__isnull=True, environment_mismatch=True).exists()
    return g.VersionFacts(
        label=version.version, stage=version.stage, policy=policy, approval=_approval(version),
        in_production_since=since, last_evidence_at=_last_evidence(version),
        open_breaches=counts["breaches"], open_warnings=counts["warnings"],
        last_breach_at=last_breach,
        acceptance_until=acceptance.expires_on if acceptance else None,
        acceptance_by=(acceptance.accepted_by.get_full_name() or acceptance.accepted_by.username) if acceptance else "",
        environment_mismatch=mismatch, overridden=overridden, shadow_marks=_shadow_marks(version),
        open_findings=tuple(g.OpenFinding(ref=pk, title=title, severity=severity, due=due)
                            for pk, title, severity, due in open_findings_of(version)),
    )


def live_versions(model: MLModel):
    return ModelVersion.objects.filter(model=model).filter(~Q(stage=Stage.RETIRED)).order_by("pk")

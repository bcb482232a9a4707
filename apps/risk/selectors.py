"""Reads of the risk app. Other apps ask here for a model's tier and obligations."""

import logging
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from django.db.models import Case, IntegerField, OuterRef, Prefetch, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.risk import policy_schema
from apps.risk.filters import RiskRegisterFilter
from apps.risk.models import (
    GovernancePolicy,
    Mitigation,
    ReassessmentTrigger,
    RiskAssessment,
    RiskMatrix,
    RiskRating,
)
from apps.risk.scoring import TIERS, Context, MatrixError, compute_tier

logger = logging.getLogger(__name__)


def current_matrix() -> RiskMatrix:
    return RiskMatrix.objects.order_by("-version").first()


def current_policies() -> dict[str, GovernancePolicy]:
    """The policy in force for each tier (the highest version), in one query."""
    latest = GovernancePolicy.objects.filter(tier=OuterRef("tier")).order_by("-version").values("pk")[:1]
    return {p.tier: p for p in GovernancePolicy.objects.filter(pk=Subquery(latest))}


def policy_for_tier(tier: str) -> GovernancePolicy | None:
    return GovernancePolicy.objects.filter(tier=tier).order_by("-version").first()


@dataclass(frozen=True)
class Thresholds:
    """The metric thresholds monitoring applies, and why any stored key is skipped."""

    rules: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def thresholds_of(policy: GovernancePolicy | None) -> Thresholds:
    """The one way to read a policy's metric thresholds.

    Publishing validates them, but a value written before that check existed (or by SQL) must not make every
    monitoring page of the tier fail: a bad key is skipped, logged, and named on the pages.
    """
    if policy is None:
        return Thresholds()
    rules, skipped = policy_schema.usable_thresholds(policy.metric_thresholds)
    for reason in skipped:
        logger.warning("%s (id %s): threshold skipped: %s", policy, policy.pk, reason)
    return Thresholds(rules, skipped)


def current_assessment(model) -> RiskAssessment | None:
    return (RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.CURRENT)
            .select_related("policy", "matrix", "submitted_by").first())


def assessment_history(model):
    return (RiskAssessment.objects.filter(model=model).exclude(status=RiskAssessment.Status.DRAFT)
            .select_related("submitted_by", "policy", "matrix").prefetch_related("ratings__mitigations__owner")
            .order_by("-submitted_at"))


def drafts_for(model):
    return RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.DRAFT).select_related("created_by")


@dataclass(frozen=True)
class Obligations:
    """What governance the model's current tier demands (or the strictest, when never assessed).

    ``reassessment_pending`` says why the tier itself is in doubt (the model's use changed since it
    was assessed); empty when it is not. The production gate waits for the re-assessment then.
    """

    tier: str | None
    policy: GovernancePolicy | None
    reassessment_due: date | None
    overdue: bool
    assessed: bool
    reassessment_pending: str = ""

    @property
    def required_approvals(self) -> int:
        return self.policy.required_approvals if self.policy else 0

    @cached_property
    def thresholds(self) -> Thresholds:
        return thresholds_of(self.policy)

    @property
    def checklists(self) -> list[str]:
        return list(self.policy.checklists) if self.policy else []


def _pending_context_change():
    """The oldest open trigger of the model raised because its use changed, as a subquery of an assessment."""
    return (ReassessmentTrigger.objects.filter(model=OuterRef("model"), resolved_by__isnull=True,
                                               kind=ReassessmentTrigger.Kind.CONTEXT_CHANGED)
            .order_by("created_at").values("reason")[:1])


def _tier_from_current_facts(assessment: RiskAssessment, model) -> str | None:
    """The tier the assessment's ratings give with the model's exposure and automation as they are now.

    None when they are what the assessor scored (the common case, and no query then).
    """
    if (model.exposure, model.automation_level) == (assessment.exposure, assessment.automation_level):
        return None
    if assessment.matrix is None:
        return None
    ratings = {r.risk: (r.probability, r.impact) for r in assessment.ratings.all()}
    context = Context(exposure=model.exposure, automation_level=model.automation_level,
                      personal_data=assessment.personal_data, people_affected=assessment.people_affected,
                      regulated_domain=assessment.regulated_domain)
    try:
        return compute_tier(assessment.matrix.config, ratings, context).tier
    except MatrixError:
        return None


def obligations_for(model) -> Obligations:
    """A model's obligations come from the policy in force for its current tier.

    An unassessed model is treated as critical until someone assesses it: the
    safe default, and it makes the gap visible. A re-assessment is pending when
    the model's use changed since (an open trigger), or when its exposure and
    automation as they are now would score a higher tier than the assessed one.
    """
    assessment = (RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.CURRENT)
                  .select_related("policy", "matrix").annotate(pending=Subquery(_pending_context_change())).first())
    if assessment is None:
        return Obligations(tier=None, policy=policy_for_tier("critical"), reassessment_due=None, overdue=False,
                           assessed=False)
    pending = assessment.pending or ""
    implied = _tier_from_current_facts(assessment, model)
    if implied and TIERS.index(implied) > TIERS.index(assessment.tier):
        pending = pending or (f"its exposure ({model.exposure}) and automation ({model.automation_level}) now "
                              f"imply the {implied} tier, above the assessed {assessment.tier}.")
    policy = policy_for_tier(assessment.tier)
    due = assessment.reassessment_due
    return Obligations(tier=assessment.tier, policy=policy, reassessment_due=due,
                       overdue=bool(due and due < timezone.localdate()), assessed=True,
                       reassessment_pending=pending)


def with_required_approvals_now(queryset, *, model: str):
    """Annotate ``tier_now`` and ``required_approvals_now`` on rows of another app (``model``: path to the model).

    The same rule as ``obligations_for`` in SQL, so a list shows the current requirement in one query:
    the policy in force for the current assessment's tier, critical's when never assessed.
    """
    tier = Subquery(RiskAssessment.objects.filter(model=OuterRef(model), status=RiskAssessment.Status.CURRENT)
                    .values("tier")[:1])
    required = Subquery(GovernancePolicy.objects.filter(tier=OuterRef("tier_now")).order_by("-version")
                        .values("required_approvals")[:1])
    return queryset.annotate(tier_now=Coalesce(tier, Value("critical"))).annotate(required_approvals_now=required)


def overdue_assessments():
    return RiskAssessment.objects.filter(
        status=RiskAssessment.Status.CURRENT, reassessment_due__lt=timezone.localdate()
    ).select_related("model", "model__accountable_owner")


def register_rows(*, filters):
    """Ratings of every current assessment, worst first, with what the register page shows, in constant queries."""
    severity_rank = Case(*[When(severity=t, then=Value(n)) for n, t in enumerate(TIERS)], output_field=IntegerField())
    queryset = (
        RiskRating.objects.filter(assessment__status=RiskAssessment.Status.CURRENT)
        .select_related("assessment__model__team__business_unit", "assessment__model__accountable_owner")
        .prefetch_related(Prefetch("mitigations", queryset=Mitigation.objects.select_related("owner")))
        .annotate(severity_rank=severity_rank)
        .order_by("-severity_rank", "assessment__model__name", "risk")
    )
    return RiskRegisterFilter(filters, queryset=queryset)


def current_ratings_of(model_ids) -> list[tuple[int, int, int]]:
    """(model id, probability, impact) of every risk rating of these models' current assessments: one query."""
    return list(RiskRating.objects.filter(assessment__status="current", assessment__model_id__in=list(model_ids))
                .order_by().values_list("assessment__model_id", "probability", "impact"))

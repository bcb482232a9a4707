"""Writes of the risk app: drafts, submission (scoring + supersession), matrix and policy versions."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.roles import Capability, require
from apps.core.services import audit_record, changes_between
from apps.inventory.models import MLModel, Stage
from apps.inventory.services import governance_mark_stale
from apps.inventory.signals import governance_changed
from apps.notifications.services import notify
from apps.risk import policy_schema, scoring
from apps.risk.defaults import FINDING_BLOCKS_FROM
from apps.risk.models import (
    GovernancePolicy,
    Mitigation,
    ReassessmentTrigger,
    RiskAssessment,
    RiskMatrix,
    RiskRating,
)
from apps.risk.selectors import current_matrix, policy_for_tier

CONTEXT_FIELDS = ("exposure", "automation_level", "personal_data", "people_affected", "regulated_domain",
                  "eu_ai_act_category", "summary")


def _require(actor, capability: Capability, obj=None) -> None:
    """``actor=None`` is the system itself (seed_demo, imports)."""
    if actor is not None:
        require(actor, capability, obj)


def _check_model_assessable(model: MLModel) -> None:
    if model.stage == Stage.RETIRED:
        raise ConflictError(f"{model} is retired; retired models are not assessed.")


def _write_ratings(assessment: RiskAssessment, ratings: dict[str, dict]) -> None:
    """``ratings``: {risk: {probability, impact, rationale, mitigations: [{action, owner, due_date, status}]}}."""
    unknown = set(ratings) - set(scoring.RISKS)
    if unknown:
        raise DomainError(f"Unknown risks: {', '.join(sorted(unknown))}.", field="ratings")
    assessment.ratings.all().delete()
    for risk, values in ratings.items():
        for level in ("probability", "impact"):
            value = values.get(level)
            if value is not None and value not in scoring.LEVELS:
                raise DomainError(f"{scoring.RISKS[risk][0]}: {level} must be 1-5, got {value!r}.",
                                  field=f"{risk}_{level}")
        if values.get("probability") is None or values.get("impact") is None:
            continue  # a draft may leave a risk unrated; submission refuses it
        rating = RiskRating.objects.create(assessment=assessment, risk=risk, probability=values["probability"],
                                           impact=values["impact"], rationale=values.get("rationale", ""))
        for mitigation in values.get("mitigations", []):
            if mitigation.get("action"):
                Mitigation.objects.create(rating=rating, action=mitigation["action"], owner=mitigation.get("owner"),
                                          due_date=mitigation.get("due_date"),
                                          status=mitigation.get("status") or Mitigation.Status.OPEN)


def _ratings_snapshot(assessment: RiskAssessment) -> dict:
    return {
        r.risk: f"P{r.probability} x I{r.impact}" + (f" = {r.severity}" if r.severity else "")
        for r in assessment.ratings.all()
    }


@transaction.atomic
def assessment_save_draft(*, actor, model: MLModel, ratings: dict[str, dict], draft: RiskAssessment | None = None,
                          **context) -> RiskAssessment:
    """Create or update a draft. Anyone who drafts can keep editing it until it is submitted."""
    _require(actor, Capability.DRAFT_ASSESSMENT, model)
    _check_model_assessable(model)
    unknown = set(context) - set(CONTEXT_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if draft is None:
        draft = RiskAssessment(model=model, created_by=actor, exposure=model.exposure,
                               automation_level=model.automation_level)
        action = "risk_assessment.drafted"
    else:
        draft = RiskAssessment.objects.select_for_update().get(pk=draft.pk)
        if draft.status != RiskAssessment.Status.DRAFT:
            raise ConflictError("This assessment was already submitted; start a new one.")
        action = "risk_assessment.draft_updated"
    for name, value in context.items():
        setattr(draft, name, value)
    draft.save()
    _write_ratings(draft, ratings)
    audit_record(actor=actor, action=action, obj=draft, changes={"ratings": [None, _ratings_snapshot(draft)]})
    return draft


@transaction.atomic
def assessment_submit(*, actor, assessment: RiskAssessment, based_on_id: int | None,
                      at: datetime | None = None) -> RiskAssessment:
    """Score the draft with the matrix in force, freeze it, and make it the model's current assessment.

    ``based_on_id`` is the current assessment the assessor saw when opening the form;
    if someone submitted a newer one since, this one is stale and is refused.
    ``at`` records a historical assessment (imports, the demo); only the system may set it.
    """
    _require(actor, Capability.SUBMIT_ASSESSMENT)
    if at is not None and actor is not None:
        raise PermissionDeniedError("Only the system records assessments with a past date.")
    assessment = RiskAssessment.objects.select_for_update().select_related("model").get(pk=assessment.pk)
    model = MLModel.objects.select_for_update().get(pk=assessment.model_id)
    _check_model_assessable(model)
    if assessment.status != RiskAssessment.Status.DRAFT:
        raise ConflictError("This assessment was already submitted.")
    previous = RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.CURRENT).first()
    if (previous.pk if previous else None) != based_on_id:
        who = previous.submitted_by if previous else None
        raise ConflictError(
            f"{who or 'Someone'} submitted a newer assessment of {model} at "
            f"{previous.submitted_at:%Y-%m-%d %H:%M} while you were editing. Reload, compare, and submit again."
            if previous else "The assessment you started from was withdrawn. Reload and submit again."
        )
    matrix = current_matrix()
    ratings = {r.risk: (r.probability, r.impact) for r in assessment.ratings.all()}
    try:
        result = scoring.compute_tier(matrix.config, ratings, scoring.Context(
            exposure=assessment.exposure, automation_level=assessment.automation_level,
            personal_data=assessment.personal_data, people_affected=assessment.people_affected,
            regulated_domain=assessment.regulated_domain))
    except scoring.MatrixError as exc:
        raise DomainError(f"Cannot submit: {exc}. Rate probability and impact of every risk.") from exc
    for rating in assessment.ratings.all():
        rating.severity = result.severities[rating.risk]
        rating.save(update_fields=["severity"])
    policy = policy_for_tier(result.tier)
    now = at or timezone.now()
    if previous:
        previous.status = RiskAssessment.Status.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])
    assessment.status = RiskAssessment.Status.CURRENT
    assessment.base_tier, assessment.tier, assessment.escalations = result.base_tier, result.tier, result.escalations
    assessment.matrix, assessment.policy = matrix, policy
    assessment.reassessment_due = (now + timedelta(days=policy.reassessment_days)).date()
    assessment.supersedes = previous
    assessment.submitted_by, assessment.submitted_at = actor, now
    try:
        with transaction.atomic():
            assessment.save()
    except IntegrityError as exc:
        raise ConflictError("Another assessment of this model was submitted at the same moment. Reload.") from exc
    ReassessmentTrigger.objects.filter(model=model, resolved_by__isnull=True).update(resolved_by=assessment)
    audit_record(
        actor=actor, action="risk_assessment.submitted", obj=assessment,
        changes={"tier": [previous.tier if previous else None, result.tier],
                 "ratings": [_ratings_snapshot(previous) if previous else None, _ratings_snapshot(assessment)],
                 "reassessment_due": [str(previous.reassessment_due) if previous else None,
                                      str(assessment.reassessment_due)],
                 "matrix_version": [None, matrix.version], "policy": [None, str(policy)]},
        reason=assessment.summary,
    )
    if previous is None or previous.tier != result.tier:
        notify(recipient=model.accountable_owner, subject=f"{model} is now {result.tier} risk",
               body=f"{actor or 'The portal'} assessed {model}: tier {result.tier}. "
                    f"Re-assessment due {assessment.reassessment_due:%Y-%m-%d}.",
               url=assessment.get_absolute_url(), kind="tier_changed",
               action="See what the new tier demands")
    governance_changed(model_ids=[model.pk], actor=actor, cause=f"risk assessed: {result.tier}")
    return assessment


@transaction.atomic
def mitigation_update(*, actor, mitigation: Mitigation, status: str) -> Mitigation:
    _require(actor, Capability.UPDATE_MITIGATION)
    mitigation = Mitigation.objects.select_for_update().select_related("rating__assessment__model").get(
        pk=mitigation.pk)
    require(actor, Capability.UPDATE_MITIGATION, mitigation.rating.assessment.model)
    if status not in Mitigation.Status.values:
        raise DomainError(f"Unknown status {status!r}.", field="status")
    before = mitigation.status
    mitigation.status = status
    mitigation.save(update_fields=["status"])
    audit_record(actor=actor, action="mitigation.status_changed", obj=mitigation, changes={"status": [before, status]})
    return mitigation


@transaction.atomic
def matrix_publish(*, actor, config: dict, note: str) -> RiskMatrix:
    """A new matrix version. Existing assessments keep the version they were scored with."""
    _require(actor, Capability.PUBLISH_POLICY)
    if not note.strip():
        raise DomainError("Say why the matrix changes.", field="note")
    try:
        scoring.validate_matrix(config)
    except scoring.MatrixError as exc:
        raise DomainError(str(exc), field="config") from exc
    previous = current_matrix()
    matrix = RiskMatrix.objects.create(version=(previous.version + 1) if previous else 1, config=config, note=note,
                                       created_by=actor)
    audit_record(actor=actor, action="risk_matrix.published", obj=matrix,
                 changes=changes_between(previous.config if previous else {}, config), reason=note)
    return matrix


POLICY_PROBLEMS_SHOWN = 10


def _check_policy(values: dict) -> None:
    """The one policy schema (``apps.risk.policy_schema``); every problem is named, the first one's field marked."""
    unknown = sorted(set(values) - set(policy_schema.FIELDS))
    if unknown:
        raise DomainError(f"Unknown policy fields: {', '.join(unknown)}.", field=unknown[0])
    missing = [name for name in policy_schema.FIELDS if name not in values]
    if missing:
        raise DomainError(f"Give every policy field; missing: {', '.join(missing)}.", field=missing[0])
    problems = policy_schema.policy_problems(values)
    if problems:
        shown = " ".join(p.message for p in problems[:POLICY_PROBLEMS_SHOWN])
        more = len(problems) - POLICY_PROBLEMS_SHOWN
        raise DomainError(shown + (f" And {more} more problems." if more > 0 else ""), field=problems[0].field)


@transaction.atomic
def policy_publish(*, actor, tier: str, note: str, **values) -> GovernancePolicy:
    """A new version of the tier's policy. Assessments keep the version they were scored under."""
    _require(actor, Capability.PUBLISH_POLICY)
    if tier not in scoring.TIERS:
        raise DomainError(f"Unknown tier {tier!r}.", field="tier")
    if not note.strip():
        raise DomainError("Say why the policy changes.", field="note")
    previous = policy_for_tier(tier)
    # A tier may set no thresholds and keeps its breach rule unless told; every other field is the admin's choice.
    values = {"metric_thresholds": {}, "suspend_on_breach": previous.suspend_on_breach if previous else False,
              "finding_blocks_from": previous.finding_blocks_from if previous else FINDING_BLOCKS_FROM[tier],
              **values}
    _check_policy(values)
    policy = GovernancePolicy.objects.create(tier=tier, version=(previous.version + 1) if previous else 1, note=note,
                                             created_by=actor, **values)
    before = {f: getattr(previous, f) for f in policy_schema.FIELDS} if previous else {}
    audit_record(actor=actor, action="governance_policy.published", obj=policy,
                 changes=changes_between(before, {f: getattr(policy, f) for f in policy_schema.FIELDS}), reason=note)
    # Every model of the tier (never-assessed ones count as critical) owes something else now: their stored states
    # are marked for the beat task in this transaction, and the gate recomputes a version's state when it asks.
    governance_mark_stale(tiers=[tier, ""] if tier == "critical" else [tier])
    return policy


@transaction.atomic
def reassessment_request(*, model: MLModel, reason: str, actor=None,
                         kind: str = ReassessmentTrigger.Kind.OTHER) -> ReassessmentTrigger | None:
    """Record an event that demands a new assessment and tell the accountable owner (once per open reason).

    A ``CONTEXT_CHANGED`` trigger holds the production gate until an assessment resolves it.
    """
    if ReassessmentTrigger.objects.filter(model=model, reason=reason, resolved_by__isnull=True).exists():
        return None
    trigger = ReassessmentTrigger.objects.create(model=model, reason=reason, kind=kind)
    audit_record(actor=actor, action="risk_reassessment.requested", obj=model, reason=reason)
    notify(recipient=model.accountable_owner, subject=f"Re-assess the risk of {model}", body=reason,
           url=f"/risk/models/{model.slug}/", kind="reassessment_requested", action="Ask a reviewer to re-assess")
    governance_changed(model_ids=[model.pk], actor=actor, cause="risk re-assessment requested")
    return trigger


@transaction.atomic
def reassessment_open_for_breach(*, model: MLModel, evidence: str, url: str = "") -> RiskAssessment | None:
    """A breach on a tier that suspends approvals: request a re-assessment and open a draft of it, pre-filled with
    the current assessment's ratings and context and the breach's evidence, for a reviewer to revise and submit.

    One open draft per model: a second breach adds its evidence to the draft's summary instead.
    """
    reason = f"Monitoring breach: {evidence}"[:300]
    reassessment_request(model=model, reason=reason, kind=ReassessmentTrigger.Kind.MONITORING_BREACH)
    note = f"Opened by a monitoring breach on {timezone.localdate():%Y-%m-%d}: {evidence}"
    note += f" ({url})" if url else ""
    draft = RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.DRAFT, created_by=None).first()
    if draft is not None:
        if evidence not in draft.summary:
            draft.summary = f"{draft.summary}\n{note}".strip()
            draft.save(update_fields=["summary", "updated_at"])
        return draft
    current = (RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.CURRENT)
               .prefetch_related("ratings__mitigations").first())
    if current is None:
        return None
    ratings = {r.risk: {"probability": r.probability, "impact": r.impact, "rationale": r.rationale,
                        "mitigations": [{"action": m.action, "owner": m.owner, "due_date": m.due_date,
                                         "status": m.status} for m in r.mitigations.all()]}
               for r in current.ratings.all()}
    context = {name: getattr(current, name) for name in CONTEXT_FIELDS if name != "summary"}
    return assessment_save_draft(actor=None, model=model, ratings=ratings, summary=note, **context)


def mark_overdue_and_notify() -> int:
    """Beat task body: tell each accountable owner once per overdue assessment."""
    from apps.risk.selectors import overdue_assessments

    count = 0
    for assessment in overdue_assessments().filter(overdue_notified_at__isnull=True):
        with transaction.atomic():
            claimed = RiskAssessment.objects.filter(pk=assessment.pk, overdue_notified_at__isnull=True).update(
                overdue_notified_at=timezone.now())
            if not claimed:
                continue
            audit_record(actor=None, action="risk_assessment.overdue", obj=assessment,
                         reason=f"re-assessment was due {assessment.reassessment_due:%Y-%m-%d}")
            notify(recipient=assessment.model.accountable_owner,
                   subject=f"Risk re-assessment of {assessment.model} is overdue",
                   body=f"The risk assessment of {assessment.model} was due for renewal on "
                        f"{assessment.reassessment_due:%Y-%m-%d}. Ask a reviewer to re-assess it.",
                   url=assessment.get_absolute_url(), kind="assessment_overdue",
                   action="Ask a reviewer to re-assess")
            count += 1
    return count

"""Writes of use-case intake: propose, edit, submit, decide, withdraw, and become a model's record.

Each is one audited change in one transaction; who may act, and from which state, is checked here.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.compliance import evaluation as ev
from apps.compliance.intake_tier import Screening, preliminary_tier
from apps.compliance.models import Classification, UseCase
from apps.compliance.services import classification_problems
from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.roles import Capability, require, roles_with
from apps.core.services import audit_record, changes_between
from apps.inventory.models import AutomationLevel, Exposure, MLModel
from apps.notifications.services import notifications_settled, notify
from apps.risk.scoring import DEFAULT_MATRIX, LEVELS
from apps.risk.selectors import current_matrix

S = UseCase.State

USE_CASE_FIELDS = ("title", "purpose", "intended_use", "business_owner", "business_process", "eu_category",
                   "annex_iii_area", "role", "rationale", "exposure", "automation_level", "personal_data",
                   "people_affected", "screening_probability", "screening_impact")
# What the rest of the record follows from; a change to one of them is audited with the tier it gives.
TIER_FIELDS = ("preliminary_tier", "tier_derivation", "matrix_version")


def _snapshot(use_case: UseCase) -> dict:
    data = {name: getattr(use_case, name) for name in USE_CASE_FIELDS + TIER_FIELDS}
    for name in ("business_owner", "business_process"):
        data[name] = str(data[name]) if data[name] is not None else None
    return data


def _check(use_case: UseCase) -> None:
    """The answers, as sentences a person can act on, first problem first."""
    problems = {}
    if not use_case.title.strip():
        problems["title"] = "Give the use case a short title."
    if not use_case.purpose.strip():
        problems["purpose"] = "Say what the AI would be for, in business terms."
    if use_case.business_owner_id is None:
        problems["business_owner"] = "Name the business owner, the person accountable for its decisions."
    if use_case.business_process_id is None:
        problems["business_process"] = "Choose the business process it would serve."
    problems.update(classification_problems(eu_category=use_case.eu_category,
                                            annex_iii_area=use_case.annex_iii_area, role=use_case.role))
    if use_case.exposure not in Exposure.values:
        problems["exposure"] = f"Choose one of: {', '.join(Exposure.values)}."
    if use_case.automation_level not in AutomationLevel.values:
        problems["automation_level"] = f"Choose one of: {', '.join(AutomationLevel.values)}."
    for name in ("screening_probability", "screening_impact"):
        if getattr(use_case, name) not in LEVELS:
            problems[name] = "Rate it from 1 to 5."
    if use_case.business_owner_id and not use_case.business_owner.is_active:
        problems["business_owner"] = (f"{use_case.business_owner} has left (inactive account); name an active "
                                      "business owner.")
    if problems:
        field, message = next(iter(problems.items()))
        raise DomainError(message, field=field)


def _score(use_case: UseCase) -> None:
    """The preliminary tier from the screening and the questionnaire, scored with the matrix in force."""
    matrix = current_matrix()
    config = matrix.config if matrix else DEFAULT_MATRIX
    result = preliminary_tier(config, Screening(
        probability=use_case.screening_probability, impact=use_case.screening_impact,
        eu_category=use_case.eu_category, annex_iii_area=use_case.annex_iii_area, exposure=use_case.exposure,
        automation_level=use_case.automation_level, personal_data=use_case.personal_data,
        people_affected=use_case.people_affected or 0),
        matrix_label=str(matrix) if matrix else "the default risk matrix",
        area_label=ev.ANNEX_III_AREAS.get(use_case.annex_iii_area, use_case.annex_iii_area))
    use_case.preliminary_tier, use_case.tier_derivation = result.tier, list(result.steps)
    use_case.matrix_version = matrix.version if matrix else None


def _locked(use_case: UseCase) -> UseCase:
    return UseCase.objects.select_for_update().select_related("business_owner", "proposed_by").get(pk=use_case.pk)


def _require_state(use_case: UseCase, *states: str, doing: str) -> None:
    if use_case.state not in states:
        raise ConflictError(f"{use_case.reference} is {use_case.get_state_display().lower()}; only a "
                            f"{' or '.join(S(s).label.split(' (')[0].lower() for s in states)} use case can be "
                            f"{doing}.")


@transaction.atomic
def use_case_propose(*, actor, **answers) -> UseCase:
    """A new draft proposal by ``actor``, with its preliminary tier."""
    require(actor, Capability.PROPOSE_USE_CASE)
    unknown = set(answers) - set(USE_CASE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be set here: {', '.join(sorted(unknown))}.")
    use_case = UseCase(proposed_by=actor, **answers)
    use_case.title, use_case.rationale = use_case.title.strip(), use_case.rationale.strip()
    _check(use_case)
    _score(use_case)
    use_case.save()
    audit_record(actor=actor, action="use_case.proposed", obj=use_case,
                 changes=changes_between({}, _snapshot(use_case)))
    return use_case


@transaction.atomic
def use_case_update(*, actor, use_case: UseCase, **changes) -> UseCase:
    """Change a draft's answers; the preliminary tier follows them."""
    use_case = _locked(use_case)
    require(actor, Capability.PROPOSE_USE_CASE, use_case)
    _require_state(use_case, S.DRAFT, doing="edited (propose a new one instead)")
    unknown = set(changes) - set(USE_CASE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    before = _snapshot(use_case)
    for name, value in changes.items():
        setattr(use_case, name, value.strip() if name in ("title", "rationale") else value)
    _check(use_case)
    _score(use_case)
    diff = changes_between(before, _snapshot(use_case))
    if diff:
        use_case.save()
        audit_record(actor=actor, action="use_case.updated", obj=use_case, changes=diff)
    return use_case


def intake_reviewers(*, exclude=()):
    """Who decides proposals: active reviewers and admins (superusers too), the excluded people aside."""
    users = get_user_model().objects.filter(is_active=True)
    deciders = users.filter(groups__name__in=[role.value for role in roles_with(Capability.DECIDE_USE_CASE)]) | (
        users.filter(is_superuser=True))
    return deciders.exclude(pk__in=[u.pk for u in exclude if u is not None]).distinct().order_by("username")


@transaction.atomic
def use_case_submit(*, actor, use_case: UseCase) -> UseCase:
    """Ask for a decision; every reviewer who may decide it is notified."""
    use_case = _locked(use_case)
    require(actor, Capability.PROPOSE_USE_CASE, use_case)
    _require_state(use_case, S.DRAFT, doing="submitted")
    _check(use_case)
    use_case.state, use_case.submitted_at = S.SUBMITTED, timezone.now()
    use_case.save(update_fields=["state", "submitted_at", "updated_at"])
    audit_record(actor=actor, action="use_case.submitted", obj=use_case, changes={"state": [S.DRAFT, S.SUBMITTED]})
    for reviewer in intake_reviewers(exclude=(use_case.proposed_by, use_case.business_owner)):
        notify(recipient=reviewer, subject=f"Use case to decide: {use_case}", url=use_case.get_absolute_url(),
               body=f"{actor} proposed {use_case.title} (preliminary tier {use_case.preliminary_tier}).",
               kind="use_case_submitted", action="Read the proposal and approve or decline it")
    return use_case


DECISIONS = {"approve": S.APPROVED, "decline": S.DECLINED}
DECISION_CHOICES = [("approve", "Approve"), ("decline", "Decline")]


def require_decider(actor, use_case: UseCase) -> None:
    """A reviewer or admin who neither proposed nor owns the use case (four-eyes)."""
    require(actor, Capability.DECIDE_USE_CASE)
    if actor.pk in {use_case.proposed_by_id, use_case.business_owner_id}:
        raise PermissionDeniedError("You proposed or own this use case, so someone else decides it (four-eyes "
                                    "rule): another reviewer or an admin.")


@transaction.atomic
def use_case_decide(*, actor, use_case: UseCase, decision: str, reason: str = "") -> UseCase:
    """Approve or decline a submitted proposal: a reviewer or admin who neither proposed nor owns it."""
    use_case = _locked(use_case)
    require_decider(actor, use_case)
    if decision not in DECISIONS:
        raise DomainError("Choose approve or decline.", field="decision")
    _require_state(use_case, S.SUBMITTED, doing="decided")
    reason = reason.strip()
    if decision == "decline" and not reason:
        raise DomainError("Say why the use case is declined, so the proposer knows what would change it.",
                          field="reason")
    if decision == "approve" and use_case.eu_category == "prohibited":
        raise DomainError("A prohibited practice under the EU AI Act (Art. 5) cannot be approved; decline it.",
                          field="decision")
    new_state = DECISIONS[decision]
    use_case.state, use_case.decided_by, use_case.decided_at = new_state, actor, timezone.now()
    use_case.decision_reason = reason
    use_case.save(update_fields=["state", "decided_by", "decided_at", "decision_reason", "updated_at"])
    audit_record(actor=actor, action=f"use_case.{new_state}", obj=use_case,
                 changes={"state": [S.SUBMITTED, new_state]}, reason=reason[:500])
    notifications_settled(kind="use_case_submitted", url=use_case.get_absolute_url())
    for person in {use_case.proposed_by, use_case.business_owner}:
        notify(recipient=person, subject=f"{use_case} was {new_state} by {actor}", body=reason,
               url=use_case.get_absolute_url(), kind="use_case_decided",
               action="Register the model" if new_state == S.APPROVED else "Read the reason")
    return use_case


@transaction.atomic
def use_case_withdraw(*, actor, use_case: UseCase, reason: str = "") -> UseCase:
    """The proposer (or an admin) takes back a draft or submitted proposal."""
    use_case = _locked(use_case)
    require(actor, Capability.PROPOSE_USE_CASE, use_case)
    _require_state(use_case, S.DRAFT, S.SUBMITTED, doing="withdrawn")
    before = use_case.state
    use_case.state = S.WITHDRAWN
    use_case.save(update_fields=["state", "updated_at"])
    audit_record(actor=actor, action="use_case.withdrawn", obj=use_case, changes={"state": [before, S.WITHDRAWN]},
                 reason=reason.strip()[:500])
    notifications_settled(kind="use_case_submitted", url=use_case.get_absolute_url())
    return use_case


# --- The inventory's intake provider (apps.inventory.intake) ------------------------------------------------

def _reference_pk(reference) -> int:
    text = str(reference).strip().upper().removeprefix("UC-")
    if not text.isdigit():
        raise DomainError(f"{reference!r} names no use case; give its number, e.g. 12 or UC-12.", field="use_case")
    return int(text)


def resolve_for_registration(*, actor, reference) -> UseCase:
    """The approved, unused use case ``reference`` names, locked until the model is saved."""
    use_case = (UseCase.objects.select_for_update().select_related("business_owner", "business_process")
                .filter(pk=_reference_pk(reference)).first())
    if use_case is None:
        raise DomainError(f"There is no use case {reference}; propose it under Use cases first.", field="use_case")
    if use_case.state != S.APPROVED:
        raise DomainError(f"{use_case.reference} is {use_case.get_state_display().lower()}; only an approved use "
                          "case becomes a model.", field="use_case")
    if use_case.model_id is not None:
        raise DomainError(f"{use_case.reference} is already the record of the model {use_case.model}; propose a new "
                          "use case for another model.", field="use_case")
    return use_case


def prefill(use_case: UseCase) -> dict:
    """The model fields a use case supplies."""
    return {"purpose": use_case.purpose, "intended_use": use_case.intended_use,
            "accountable_owner": use_case.business_owner, "business_processes": [use_case.business_process],
            "exposure": use_case.exposure, "automation_level": use_case.automation_level}


@transaction.atomic
def use_case_link(*, actor, source: UseCase, model: MLModel) -> UseCase:
    """The use case becomes ``model``'s record: linked to it, and its classification the model's."""
    source.model, source.registered_at = model, timezone.now()
    source.save(update_fields=["model", "registered_at", "updated_at"])
    answers = {name: getattr(source, name) for name in ("eu_category", "annex_iii_area", "role", "rationale")}
    Classification.objects.update_or_create(model=model, defaults={**answers, "classified_by": actor})
    audit_record(actor=actor, action="model.classified", obj=model, changes=changes_between({}, answers),
                 reason=f"From use case {source.reference}.")
    audit_record(actor=actor, action="use_case.registered", obj=source, changes={"model": [None, str(model)]})
    # "Approved: register the model" is done now.
    notifications_settled(kind="use_case_decided", url=source.get_absolute_url())
    return source


def registration_initial(reference) -> dict:
    """The registration form's initial values from an approved, unused use case ({} for any other)."""
    try:
        pk = _reference_pk(reference)
    except DomainError:
        return {}
    use_case = (UseCase.objects.select_related("business_owner", "business_process")
                .filter(pk=pk, state=S.APPROVED, model__isnull=True).first())
    if use_case is None:
        return {}
    return {**prefill(use_case), "use_case": str(use_case.pk), "name": use_case.title}


def registration_choices(user) -> list[tuple[str, str]]:
    """The approved, unused use cases, for the registration form."""
    return [(str(u.pk), f"{u.reference} {u.title} ({u.business_process})")
            for u in UseCase.objects.filter(state=S.APPROVED, model__isnull=True).select_related("business_process")]


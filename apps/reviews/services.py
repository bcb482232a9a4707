"""Every change to a review goes through ``review_transition`` (or a function built on it).

Each checks who may act and from which state, locks the review row, writes the
audit trail in the same transaction, and raises a DomainError a person can act
on (IllegalTransition -> 409 in the API).
"""

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.core.roles import Capability, may, require
from apps.core.services import audit_record
from apps.inventory.models import ModelVersion
from apps.inventory.signals import governance_changed
from apps.notifications.services import notify
from apps.reviews import transitions as t
from apps.reviews.models import (
    OWNER_ACKNOWLEDGED,
    ChecklistAnswer,
    ChecklistItem,
    ChecklistVerdict,
    Review,
    ReviewDecision,
)
from apps.risk.selectors import Obligations, obligations_for

# --- What was reviewed ---------------------------------------------------------------------

def content_hash(version: ModelVersion, answers) -> str:
    """SHA-256 over what reviewers sign off: the version's attested fields (``ModelVersion.REVIEWED_FIELDS``:
    artefact, algorithm, framework, hyperparameters, validation metrics, validated environment), the
    content hashes of its training data and the checklist answers.

    Changing any of them afterwards changes the hash, which voids the approval.
    """
    attested = {name: getattr(version, name) for name in ModelVersion.REVIEWED_FIELDS if name != "training_datasets"}
    payload = {
        "version_id": version.pk,
        "version": version.version,
        **attested,
        "training_datasets": sorted(
            [d.pk, d.version, d.content_sha256] for d in version.training_datasets.all()
        ),
        "answers": sorted(
            [a.item_id, a.answer, a.evidence, a.evidence_link, a.evidence_sha256] for a in answers
        ),
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def current_hash(review: Review) -> str:
    return content_hash(review.version, review.answers.all())


# --- Who may act ------------------------------------------------------------------------------

def _conflicts(review: Review) -> dict[int, str]:
    """People who are not independent of this review, with why, worded to follow "you" or "they"."""
    version = review.version
    model = version.model
    people: dict[int, str] = {}
    if review.submitted_by_id:
        people[review.submitted_by_id] = "submitted this review"
    if review.created_by_id:
        people.setdefault(review.created_by_id, "opened this review")
    # Whoever wrote the evidence vouches for it; judging it is someone else's job.
    answerers = AuditEvent.objects.filter(
        object_type="reviews.review", object_id=str(review.pk), action="review.answered", actor__isnull=False,
    ).values_list("actor_id", flat=True)
    for user_id in answerers:
        people.setdefault(user_id, "answered its checklists")
    if version.created_by_id:
        people.setdefault(version.created_by_id, "registered this version")
    people.setdefault(model.accountable_owner_id, "are the model's accountable owner")
    for owner in model.technical_owners.all():  # .all(): the review page has them prefetched
        people.setdefault(owner.pk, "are a technical owner of the model")
    # Registering or editing the version's content makes one an author; moving its stage does not.
    editors = AuditEvent.objects.filter(
        object_type="inventory.modelversion", object_id=str(version.pk), actor__isnull=False,
        action__in=("version.created", "version.updated"),
    ).values_list("actor_id", flat=True)
    for user_id in editors:
        people.setdefault(user_id, "edited this version")
    return people


def conflicted_users(review: Review) -> dict[int, str]:
    """People who cannot approve this review (four-eyes rule), with the reason addressed to them."""
    return {user_id: f"you {reason}" for user_id, reason in _conflicts(review).items()}


def _require_reviewer(actor, review: Review) -> None:
    require(actor, Capability.DECIDE_REVIEW)
    reason = conflicted_users(review).get(actor.pk)
    if reason:
        raise PermissionDeniedError(four_eyes_refusal(reason))


def four_eyes_refusal(reason: str) -> str:
    """The message shown before (on the page) and after (on a POST) a conflicted reviewer tries to decide."""
    return f"Four-eyes rule: you cannot decide on this review because {reason}. Ask another reviewer."


# --- What the current policy demands ------------------------------------------------------------

@dataclass(frozen=True)
class ApprovalStatus:
    """A round's approvals judged against the model's tier and policy as they are now, not when it opened.

    Only independent approvals count: an approver who has since become conflicted (made an owner of the
    model, say) has a stake in the version now, when the gate relies on the approval.
    """

    approvals: int
    required: int
    tier: str
    missing_checklists: tuple[str, ...] = ()
    discounted: tuple[str, ...] = ()

    @property
    def enough(self) -> bool:
        return self.approvals >= self.required and not self.missing_checklists

    @property
    def reopenable(self) -> bool:
        """More approvals on the same answers would do; missing checklists need a new round."""
        return self.approvals < self.required and not self.missing_checklists

    def problems(self) -> list[str]:
        problems = list(self.discounted)
        if self.approvals < self.required:
            more = self.required - self.approvals
            problems.append(f"It has {self.approvals} of the {self.required} approval{'s' * (self.required != 1)} "
                            f"its current tier ({self.tier}) requires; ask {more} more reviewer{'s' * (more != 1)}.")
        if self.missing_checklists:
            names = ", ".join(self.missing_checklists)
            problems.append(f"Its current tier ({self.tier}) demands the {names} checklist"
                            f"{'s' * (len(self.missing_checklists) != 1)}, which this round did not answer; "
                            "a new review round must.")
        return problems


def approval_status(review: Review, *, obligations: Obligations | None = None,
                    conflicted: dict[int, str] | None = None) -> ApprovalStatus:
    """How many independent approvals ``review`` has against what the model's current policy demands.

    ``obligations`` and ``conflicted`` (``conflicted_users(review)``) save the queries when the caller has them.
    """
    obligations = obligations or obligations_for(review.version.model)
    conflicts = conflicted if conflicted is not None else conflicted_users(review)
    approvals, discounted = 0, []
    for decision in review.decisions.all():
        if decision.decision != ReviewDecision.Decision.APPROVE:
            continue
        if decision.reviewer_id in conflicts:
            reason = conflicts[decision.reviewer_id].removeprefix("you ")
            discounted.append(f"The approval of {decision.reviewer} does not count (four-eyes rule): they {reason}.")
        else:
            approvals += 1
    policy = obligations.policy
    return ApprovalStatus(
        approvals=approvals,
        # Without any policy (a fresh database) the round keeps what it was opened with.
        required=policy.required_approvals if policy else review.required_approvals,
        tier=obligations.tier or "not assessed, treated as critical",
        missing_checklists=tuple(c for c in obligations.checklists if c not in review.checklists),
        discounted=tuple(discounted),
    )


def _locked(review: Review) -> Review:
    return Review.objects.select_for_update().select_related("version__model").get(pk=review.pk)


def _move(review: Review, action: str) -> str:
    try:
        return t.target(action, review.state)
    except t.IllegalTransition as exc:
        raise ConflictError(str(exc)) from exc


# --- Transitions -------------------------------------------------------------------------------

@transaction.atomic
def review_start(*, actor, version: ModelVersion) -> Review:
    """Open a new review round for a version, with the checklists its tier demands."""
    require(actor, Capability.OPEN_REVIEW)
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    require(actor, Capability.OPEN_REVIEW, version.model)
    if version.stage == "retired":
        raise ConflictError(f"{version} is retired; it is not reviewed any more.")
    if Review.objects.filter(version=version, state__in=t.OPEN_STATES).exists():
        raise ConflictError(f"{version} already has an open review; continue that one.")
    obligations = obligations_for(version.model)
    policy = obligations.policy
    last_round = Review.objects.filter(version=version).order_by("-round").values_list("round", flat=True).first()
    review = Review(version=version, round=(last_round or 0) + 1, created_by=actor,
                    checklists=list(policy.checklists) if policy else ["intentionality", "accountability"],
                    required_approvals=policy.required_approvals if policy else 2,
                    policy_label=str(policy) if policy else "")
    try:
        with transaction.atomic():
            review.save(force_insert=True)
    except IntegrityError as exc:
        raise ConflictError(f"{version} already has an open review; continue that one.") from exc
    for item in ChecklistItem.objects.filter(active=True, checklist__in=review.checklists).exclude(
            key=OWNER_ACKNOWLEDGED):
        ChecklistAnswer.objects.create(review=review, item=item)
    audit_record(actor=actor, action="review.started", obj=review,
                 changes={"state": [None, review.state], "checklists": [None, review.checklists],
                          "required_approvals": [None, review.required_approvals]})
    return review


ANSWER_FIELDS = ("answer", "evidence", "evidence_link", "reviewer_comment")
OWNER_ITEM_REFUSAL = ("Only the model's accountable owner answers “owner acknowledged”, by acknowledging "
                      "responsibility on this review.")


@contextmanager
def evidence_discarded_on_error():
    """Yields a list for the names of evidence files saved in the block; if the block raises, deletes them.

    A file is written to storage when its answer is saved, but the transaction around it may still roll
    back (a later answer of the same form refused): nothing would refer to the file any more. Put it
    outside the transaction, so the database has rolled back when the files go.
    """
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        storage = ChecklistAnswer._meta.get_field("evidence_file").storage
        for name in stored:
            storage.delete(name)
        raise


@transaction.atomic
def review_answer(*, actor, review: Review, item_id: int, answer: str = "", evidence: str = "",
                  evidence_link: str = "", evidence_file=None) -> ChecklistAnswer:
    """The submitter answers a checklist item with evidence; only while the review is a draft."""
    review = _locked(review)
    require(actor, Capability.OPEN_REVIEW, review.version.model,
            message="Data scientists and admins answer the checklists; reviewers comment.")
    if review.state != t.DRAFT:
        raise ConflictError("Answers are frozen once a review is submitted; withdraw it and start a new round.")
    if answer not in ChecklistAnswer.Answer.values and answer != "":
        raise DomainError(f"Answer must be yes, no or na, not {answer!r}.", field="answer")
    row = ChecklistAnswer.objects.select_for_update().select_related("item").filter(
        review=review, item_id=item_id).first()
    if row is None:
        raise DomainError("That item is not on this review's checklists.", field="item")
    if row.item.key == OWNER_ACKNOWLEDGED:
        raise PermissionDeniedError(OWNER_ITEM_REFUSAL, field="answer")
    before = {f: getattr(row, f) for f in ANSWER_FIELDS}
    row.answer, row.evidence, row.evidence_link = answer, evidence, evidence_link
    if evidence_file is not None:
        digest = hashlib.sha256()
        for chunk in evidence_file.chunks():
            digest.update(chunk)
        row.evidence_file = evidence_file
        row.evidence_sha256 = digest.hexdigest()
    with evidence_discarded_on_error() as stored:
        row.save()
        if evidence_file is not None:
            stored.append(row.evidence_file.name)
        after = {f: getattr(row, f) for f in ANSWER_FIELDS}
        changes = {k: [before[k], after[k]] for k in ANSWER_FIELDS if before[k] != after[k]}
        if evidence_file is not None:
            changes["evidence_file"] = [None, row.evidence_sha256]
        if changes:
            audit_record(actor=actor, action="review.answered", obj=review,
                         changes={f"{row.item.key}.{field}": pair for field, pair in changes.items()})
    return row


@transaction.atomic
def review_submit(*, actor, review: Review) -> Review:
    review = _locked(review)
    require(actor, Capability.OPEN_REVIEW, review.version.model, message="Data scientists and admins submit reviews.")
    new_state = _move(review, "submit")
    unanswered = [a.item.text for a in review.answers.select_related("item")
                  if not a.answer and a.item.key != OWNER_ACKNOWLEDGED]
    if unanswered:
        raise DomainError(f"Answer every checklist item before submitting; {len(unanswered)} left, "
                          f"first: “{unanswered[0]}”", field="answers")
    review.state, review.submitted_by, review.submitted_at = new_state, actor, timezone.now()
    review.content_hash = current_hash(review)
    review.save(update_fields=["state", "submitted_by", "submitted_at", "content_hash", "updated_at"])
    audit_record(actor=actor, action="review.submitted", obj=review,
                 changes={"state": [t.DRAFT, new_state], "content_hash": [None, review.content_hash]})
    for user in review.assignees.all():
        notify(recipient=user, subject=f"Review requested: {review.version}", url=review.get_absolute_url(),
               body=f"{actor} submitted {review.version} for responsible-AI review.", kind="review_requested",
               action="Check the evidence and decide")
    return review


@transaction.atomic
def review_assign(*, actor, review: Review, reviewer) -> Review:
    review = _locked(review)
    require(actor, Capability.ASSIGN_REVIEWER, review.version.model)
    if not (review.is_open or (review.state == t.APPROVED and approval_status(review).reopenable)):
        raise ConflictError("Only open reviews (or approved ones short of what the current policy demands) "
                            "get reviewers assigned.")
    if not may(reviewer, Capability.DECIDE_REVIEW):
        raise DomainError(f"{reviewer} is not a reviewer.", field="reviewer")
    reason = conflicted_users(review).get(reviewer.pk)
    if reason:
        raise DomainError(f"{reviewer} cannot review this version (four-eyes rule).", field="reviewer")
    review.assignees.add(reviewer)
    audit_record(actor=actor, action="review.assigned", obj=review, changes={"assignee": [None, reviewer.username]})
    if review.state != t.DRAFT:
        notify(recipient=reviewer, subject=f"Review assigned to you: {review.version}", url=review.get_absolute_url(),
               body=f"{actor} asked you to review {review.version}.", kind="review_assigned",
               action="Check the evidence and decide")
    return review


def checklist_items(review: Review, answers=None) -> list[ChecklistItem]:
    """The items a reviewer judges: those the round answers, and the owner's acknowledgement when its
    checklist applies (the owner answers it by acknowledging, not with an answer row).

    ``answers``: the round's answers with their items, when the caller has them."""
    answers = answers if answers is not None else review.answers.select_related("item")
    items = [answer.item for answer in answers]
    if OWNER_ACKNOWLEDGED not in {item.key for item in items}:
        items += [item for item in _owner_items() if item.checklist in review.checklists]
    return items


def _owner_items() -> list[ChecklistItem]:
    return list(ChecklistItem.objects.filter(active=True, key=OWNER_ACKNOWLEDGED))


def _checked_verdicts(review: Review, decision: str, verdicts: dict) -> list[ChecklistVerdict]:
    """``verdicts`` ({item id: (verdict, reason)}) as unsaved rows; refused when one is not a verdict on an
    item of this round, a dispute gives no reason, or an approval rests on a disputed item."""
    items = {item.pk: item for item in checklist_items(review)}
    rows = []
    for item_id, (verdict, reason) in verdicts.items():
        item = items.get(item_id)
        if item is None:
            raise DomainError("That item is not on this review's checklists.", field="verdicts")
        if verdict not in ChecklistVerdict.Verdict.values:
            raise DomainError(f"A verdict is confirm or dispute, not {verdict!r}.", field="verdicts")
        if verdict == ChecklistVerdict.Verdict.DISPUTE and not reason.strip():
            raise DomainError(f"Say why you dispute “{item.text}”.", field=f"reason_{item_id}")
        rows.append(ChecklistVerdict(item=item, verdict=verdict, reason=reason.strip()))
    disputed = [row.item.text for row in rows if row.verdict == ChecklistVerdict.Verdict.DISPUTE]
    if decision == ReviewDecision.Decision.APPROVE and disputed:
        raise DomainError(f"You dispute {len(disputed)} checklist item{'s' * (len(disputed) != 1)} (first: "
                          f"“{disputed[0]}”); request changes or reject instead of approving.", field="decision")
    return rows


@transaction.atomic
def review_decide(*, actor, review: Review, decision: str, comment: str = "",
                  seen_hash: str | None = None, verdicts: dict | None = None) -> ReviewDecision:
    """One reviewer's decision. Independent approvals count per distinct reviewer; once they meet what the
    model's current tier and policy demand, the review is approved.

    The review row is locked, so concurrent decisions are serialised; the unique
    (review, reviewer) constraint stops a double click counting twice. ``seen_hash``
    is the content hash the reviewer's form showed; a different one means the
    content changed under them (stale form). An approved round that the current
    policy no longer justifies (the tier rose) reopens for the approvals it lacks.
    ``verdicts`` ({checklist item id: ("confirm" | "dispute", reason)}) record what the reviewer
    confirms or disputes of the evidence; a dispute needs a reason and rules out approving.
    """
    review = _locked(review)
    if decision not in ReviewDecision.Decision.values:
        raise DomainError(f"Decision must be approve, request_changes or reject, not {decision!r}.", field="decision")
    _require_reviewer(actor, review)
    obligations = obligations_for(review.version.model)
    status = approval_status(review, obligations=obligations)
    if review.state == t.APPROVED and status.reopenable:
        _reopen(actor=actor, review=review, status=status)
    target_state = _move(review, decision)
    if decision != "approve" and not comment.strip():
        raise DomainError("Say what must change (or why it is rejected) in the comment.", field="comment")
    judged = _checked_verdicts(review, decision, verdicts or {})
    if decision == "approve" and status.missing_checklists:
        raise ConflictError(f"{status.problems()[-1]} Withdraw this round and start a new one.")
    if review.decisions.filter(reviewer=actor).exists():
        raise ConflictError("You already decided on this review round.")
    live_hash = current_hash(review)
    if live_hash != review.content_hash or (seen_hash and seen_hash != review.content_hash):
        raise ConflictError("What you reviewed has changed since it was submitted; reload the review.")
    try:
        with transaction.atomic():
            record = ReviewDecision.objects.create(review=review, reviewer=actor, decision=decision, comment=comment,
                                                   content_hash=live_hash)
    except IntegrityError as exc:
        raise ConflictError("You already decided on this review round.") from exc
    for row in judged:
        row.decision = record
    ChecklistVerdict.objects.bulk_create(judged)
    before = review.state
    after = approval_status(review, obligations=obligations)
    if decision == "approve" and not after.enough:
        new_state = t.IN_REVIEW
    else:
        new_state = target_state
        review.decided_at = timezone.now()
    review.state = new_state
    review.save(update_fields=["state", "decided_at", "updated_at"])
    audit_record(actor=actor, action=f"review.{decision}", obj=review, reason=comment,
                 changes={"state": [before, new_state], "approvals": [status.approvals, after.approvals],
                          "required_approvals": [None, after.required], "content_hash": [None, live_hash],
                          **({"verdicts": [None, {row.item.key: [row.verdict, row.reason] for row in judged}]}
                             if judged else {})})
    recipients = {review.submitted_by, review.version.model.accountable_owner}
    for user in filter(None, recipients):
        notify(recipient=user, subject=f"{review.version}: {actor} chose to {decision.replace('_', ' ')}",
               body=comment or f"{after.approvals} of {after.required} approvals.", url=review.get_absolute_url(),
               kind="review_decided",
               action="See the decision" if decision == "approve" else "Address what the reviewer asks")
    governance_changed(model_ids=[review.version.model_id], actor=actor, cause=f"review {decision.replace('_', ' ')}")
    return record


def _reopen(*, actor, review: Review, status: ApprovalStatus) -> None:
    """Back to in_review: the round was approved under a laxer policy than the one in force now."""
    new_state = _move(review, "reopen")
    review.state = new_state
    try:
        with transaction.atomic():
            review.save(update_fields=["state", "updated_at"])
    except IntegrityError as exc:
        raise ConflictError(f"{review.version} has another open review round; decide on that one.") from exc
    audit_record(actor=actor, action="review.reopened", obj=review, changes={"state": [t.APPROVED, new_state]},
                 reason=" ".join(status.problems()))


@transaction.atomic
def review_acknowledge(*, actor, review: Review) -> Review:
    """The model's accountable owner records that they take responsibility for this version's decisions."""
    review = _locked(review)
    require(actor, Capability.ACKNOWLEDGE_REVIEW, review)
    if review.state in (t.WITHDRAWN, t.REJECTED, t.EXPIRED):
        raise ConflictError("This review round is closed.")
    if review.owner_acknowledged_at:
        raise ConflictError("You already acknowledged this review round.")
    review.owner_acknowledged_by, review.owner_acknowledged_at = actor, timezone.now()
    review.save(update_fields=["owner_acknowledged_by", "owner_acknowledged_at", "updated_at"])
    audit_record(actor=actor, action="review.owner_acknowledged", obj=review)
    return review


@transaction.atomic
def review_withdraw(*, actor, review: Review, reason: str = "") -> Review:
    review = _locked(review)
    require(actor, Capability.WITHDRAW_REVIEW, review)
    new_state = _move(review, "withdraw")
    before = review.state
    review.state = new_state
    review.save(update_fields=["state", "updated_at"])
    audit_record(actor=actor, action="review.withdrawn", obj=review, changes={"state": [before, new_state]},
                 reason=reason)
    governance_changed(model_ids=[review.version.model_id], actor=actor, cause="review withdrawn")
    return review


@transaction.atomic
def review_expire_for_version(*, version: ModelVersion, actor=None, changed=()) -> int:
    """The reviewed content changed: approved rounds expire, open ones cannot continue on stale answers."""
    count = 0
    for review in Review.objects.select_for_update().filter(version=version, state__in=(t.APPROVED, t.SUBMITTED,
                                                                                       t.IN_REVIEW)):
        before = review.state
        review.state = t.EXPIRED if before == t.APPROVED else t.WITHDRAWN
        review.save(update_fields=["state", "updated_at"])
        audit_record(actor=actor, action="review.voided", obj=review, changes={"state": [before, review.state]},
                     reason=f"reviewed content changed: {', '.join(changed)}")
        count += 1
    return count


# --- Reads used by the gate and pages ---------------------------------------------------------------

def _approved_rounds(version: ModelVersion):
    """Approved rounds whose content still matches the version, newest first, each with its status now."""
    obligations = None  # read only for a version that has an approved round: gate lists stay cheap
    for review in Review.objects.filter(version=version, state=t.APPROVED).prefetch_related(
            "decisions__reviewer").order_by("-decided_at"):
        review.version = version
        if current_hash(review) == review.content_hash:
            obligations = obligations or obligations_for(version.model)
            yield review, approval_status(review, obligations=obligations)


def valid_approval(version: ModelVersion) -> Review | None:
    """The approved review whose content still matches the version and that the current policy justifies."""
    return next((review for review, status in _approved_rounds(version) if status.enough), None)


def approval_problems(version: ModelVersion) -> list[str]:
    """Why the version holds no valid approval (empty when it does): what the newest approved round lacks."""
    newest = None
    for _review, status in _approved_rounds(version):
        if status.enough:
            return []
        newest = newest or status
    if newest is None:
        return ["It needs a valid responsible-AI approval (a review approved by enough distinct reviewers)."]
    return newest.problems()


@dataclass(frozen=True)
class ApprovalFacts:
    """The version's approval as governance judges it: the newest round whose content still matches, judged
    against the current policy; ``void`` when rounds were approved but none matches the content any more."""

    status: ApprovalStatus | None
    decided_at: object = None
    void: bool = False


def approval_facts(version: ModelVersion) -> ApprovalFacts | None:
    """None when the version was never approved."""
    newest = None
    for review, status in _approved_rounds(version):
        if status.enough:
            return ApprovalFacts(status, review.decided_at)
        newest = newest or ApprovalFacts(status, review.decided_at)
    if newest is not None:
        return newest
    if Review.objects.filter(version=version, state__in=(t.APPROVED, t.EXPIRED)).exists():
        return ApprovalFacts(None, void=True)
    return None

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.inventory import services as inventory
from apps.inventory.models import GateOverride, Stage
from apps.reviews import services
from apps.reviews.models import Review
from tests.reviews.helpers import assessed_version, submitted_review
from tests.risk.factories import ratings


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(3)]


def test_a_review_takes_its_checklists_and_approval_count_from_the_tier(scientist):
    low = assessed_version(team__members=[scientist])  # ratings 2x2 -> low
    review = services.review_start(actor=scientist, version=low)
    assert review.checklists == ["intentionality"] and review.required_approvals == 1
    high = assessed_version(team__members=[scientist], tier_ratings=ratings(degradation=(4, 4)))  # 16 -> high
    review = services.review_start(actor=scientist, version=high)
    assert sorted(review.checklists) == ["accountability", "intentionality"] and review.required_approvals == 2
    # Eleven items; the owner answers "owner acknowledged" by acknowledging, so ten answer rows.
    assert review.answers.count() == 10


def test_the_submitter_cannot_approve_their_own_work(make_user):
    both = make_user("reviewer", username="selfie")
    both.groups.add(*make_user("data_scientist").groups.all())
    review = submitted_review(submitter=both)
    with pytest.raises(PermissionDeniedError, match="Four-eyes rule: .* because you submitted this review"):
        services.review_decide(actor=both, review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "submitted" and not review.decisions.exists()


def test_owners_and_editors_of_the_version_cannot_approve(scientist, make_user, reviewers):
    review = submitted_review(submitter=scientist)
    owner = review.version.model.accountable_owner
    owner.groups.add(*reviewers[0].groups.all())
    with pytest.raises(PermissionDeniedError, match="accountable owner"):
        services.review_decide(actor=owner, review=review, decision="approve")
    editor = make_user("reviewer", username="editor")
    editor.groups.add(*scientist.groups.all())
    review.version.model.team.members.add(editor)
    inventory.version_update(actor=editor, version=review.version, description="tweak")
    with pytest.raises(PermissionDeniedError, match="you edited this version"):
        services.review_decide(actor=editor, review=review, decision="approve")


def test_two_distinct_approvals_approve_a_high_tier_version(scientist, reviewers):
    review = submitted_review(submitter=scientist, tier_ratings=ratings(degradation=(4, 4)))
    services.review_decide(actor=reviewers[0], review=review, decision="approve", comment="fine")
    review.refresh_from_db()
    assert review.state == "in_review"
    with pytest.raises(ConflictError, match="already decided"):
        services.review_decide(actor=reviewers[0], review=review, decision="approve")
    services.review_decide(actor=reviewers[1], review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "approved" and services.valid_approval(review.version) == review


def test_a_rejection_needs_a_reason_and_is_final(scientist, reviewers):
    review = submitted_review(submitter=scientist)
    with pytest.raises(DomainError, match="Say what must change"):
        services.review_decide(actor=reviewers[0], review=review, decision="reject")
    services.review_decide(actor=reviewers[0], review=review, decision="reject", comment="data not lawful")
    with pytest.raises(ConflictError, match="Cannot approve a review that is rejected; it is final"):
        services.review_decide(actor=reviewers[1], review=review, decision="approve")


def test_answers_are_frozen_after_submission(scientist):
    review = submitted_review(submitter=scientist)
    with pytest.raises(ConflictError, match="frozen"):
        services.review_answer(actor=scientist, review=review, item_id=review.answers.first().item_id, answer="no")


def test_submitting_with_unanswered_items_names_the_first(scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    with pytest.raises(DomainError, match="Answer every checklist item"):
        services.review_submit(actor=scientist, review=review)


def test_evidence_files_are_hashed_into_the_reviewed_content(scientist, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    item = review.answers.first().item_id
    row = services.review_answer(actor=scientist, review=review, item_id=item, answer="yes",
                                 evidence_file=SimpleUploadedFile("fairness.pdf", b"%PDF report"))
    assert len(row.evidence_sha256) == 64 and (tmp_path / row.evidence_file.name).exists()


def test_changing_the_artefact_after_approval_voids_it(scientist, reviewers):
    review = submitted_review(submitter=scientist)
    services.review_decide(actor=reviewers[0], review=review, decision="approve")
    version = review.version
    assert services.valid_approval(version) is not None
    inventory.version_update(actor=scientist, version=version, artifact_sha256="b" * 64)
    review.refresh_from_db()
    assert review.state == "expired" and services.valid_approval(version) is None
    assert AuditEvent.objects.filter(action="review.voided", reason__contains="artifact_sha256").exists()


def test_the_production_gate_refuses_an_unapproved_version(scientist):
    version = assessed_version(team__members=[scientist])
    with pytest.raises(ConflictError, match="needs a valid responsible-AI approval"):
        inventory.version_transition(actor=scientist, version=version, to_stage="production")
    with pytest.raises(ConflictError, match="needs a valid responsible-AI approval"):
        inventory.deployment_create(actor=scientist, version=version, environment="production", target="api")
    version.refresh_from_db()
    assert version.stage == Stage.DEVELOPMENT


def test_the_gate_opens_with_an_approval_and_a_current_assessment(scientist, reviewers):
    review = submitted_review(submitter=scientist)
    services.review_decide(actor=reviewers[0], review=review, decision="approve")
    version = inventory.version_transition(actor=scientist, version=review.version, to_stage="production")
    assert version.stage == Stage.PRODUCTION


def test_an_unassessed_model_is_refused_by_the_gate(scientist):
    from tests.inventory.factories import ModelVersionFactory

    with pytest.raises(ConflictError, match="needs a risk assessment"):
        inventory.version_transition(actor=scientist, version=ModelVersionFactory(model__team__members=[scientist]),
                                     to_stage="production")


def test_only_admins_override_the_gate_and_it_is_recorded(scientist, make_user):
    version = assessed_version(team__members=[scientist])
    with pytest.raises(PermissionDeniedError):
        inventory.version_transition(actor=scientist, version=version, to_stage="production",
                                     override_reason="urgent")
    admin = make_user("admin", username="ada")
    inventory.version_transition(actor=admin, version=version, to_stage="production", override_reason="outage fix")
    override = GateOverride.objects.get()
    assert override.reason == "outage fix" and "approval" in override.problems[0]
    assert AuditEvent.objects.filter(action="production_gate.overridden", actor_username="ada").exists()


def test_one_open_review_per_version(scientist):
    version = assessed_version(team__members=[scientist])
    services.review_start(actor=scientist, version=version)
    with pytest.raises(ConflictError, match="already has an open review"):
        services.review_start(actor=scientist, version=version)


def test_only_the_accountable_owner_acknowledges(scientist, make_user):
    review = submitted_review(submitter=scientist)
    with pytest.raises(PermissionDeniedError):
        services.review_acknowledge(actor=scientist, review=review)
    services.review_acknowledge(actor=review.version.model.accountable_owner, review=review)
    review.refresh_from_db()
    assert review.owner_acknowledged_at is not None


def test_withdrawing_lets_a_new_round_start(scientist):
    review = submitted_review(submitter=scientist)
    services.review_withdraw(actor=scientist, review=review, reason="new data")
    second = services.review_start(actor=scientist, version=review.version)
    assert second.round == 2 and Review.objects.get(pk=review.pk).state == "withdrawn"

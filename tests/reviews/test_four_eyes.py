"""Four-eyes rule: whoever opened, answered or submitted a round, authored the version or owns the model is not an
independent approver, when deciding and when the gate relies on the approval."""

import pytest

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.inventory import services as inventory
from apps.reviews import selectors, services
from tests.reviews.helpers import assessed_version, submitted_review


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def admin(make_user):
    return make_user("admin", username="ada")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(2)]


def answer_all(review, actor):
    for answer in review.answers.all():
        services.review_answer(actor=actor, review=review, item_id=answer.item_id, answer="yes",
                               evidence=f"evidence for {answer.item.key}")


def test_it_refuses_the_admin_who_opened_and_answered_the_round_a_scientist_submitted(scientist, admin):
    review = services.review_start(actor=admin, version=assessed_version(team__members=[scientist]))
    answer_all(review, admin)
    services.review_submit(actor=scientist, review=review)

    with pytest.raises(PermissionDeniedError, match="because you opened this review"):
        services.review_decide(actor=admin, review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "submitted" and not review.decisions.exists()
    assert review not in selectors.awaiting_decision(admin)


def test_it_refuses_a_reviewer_who_answered_part_of_the_checklists(scientist, admin):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    first, *rest = review.answers.all()
    services.review_answer(actor=admin, review=review, item_id=first.item_id, answer="yes", evidence="admin wrote it")
    for answer in rest:
        services.review_answer(actor=scientist, review=review, item_id=answer.item_id, answer="yes", evidence="mine")
    services.review_submit(actor=scientist, review=review)

    with pytest.raises(PermissionDeniedError, match="because you answered its checklists"):
        services.review_decide(actor=admin, review=review, decision="approve")
    assert review not in selectors.awaiting_decision(admin)
    with pytest.raises(DomainError, match="four-eyes"):
        services.review_assign(actor=scientist, review=review, reviewer=admin)


def test_an_approval_stops_counting_when_its_reviewer_becomes_an_owner_of_the_model(scientist, reviewers):
    review = submitted_review(submitter=scientist)
    services.review_decide(actor=reviewers[0], review=review, decision="approve")
    assert services.valid_approval(review.version) == review

    inventory.model_update(actor=None, model=review.version.model, technical_owners=[reviewers[0]])

    assert services.valid_approval(review.version) is None
    assert services.approval_problems(review.version) == [
        "The approval of rev0 does not count (four-eyes rule): they are a technical owner of the model.",
        "It has 0 of the 1 approval its current tier (low) requires; ask 1 more reviewer.",
    ]
    with pytest.raises(ConflictError, match="does not count"):
        inventory.version_transition(actor=scientist, version=review.version, to_stage="production")

    services.review_decide(actor=reviewers[1], review=review, decision="approve")  # reopens, then approves
    review.refresh_from_db()
    assert review.state == "approved" and services.valid_approval(review.version) == review

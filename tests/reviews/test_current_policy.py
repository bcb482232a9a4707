"""Approvals are judged against the model's tier and policy as they are now, at decision and at gate time."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import ConflictError
from apps.core.models import AuditEvent
from apps.inventory import services as inventory
from apps.inventory.gates import production_problems
from apps.reviews import selectors, services
from apps.risk import services as risk_services
from apps.risk.selectors import current_assessment, obligations_for
from tests.inventory.factories import MLModelFactory, ModelVersionFactory
from tests.reviews.helpers import submitted_review
from tests.risk.factories import ratings

LOW = ratings()  # 2 x 2: one approval, the intentionality checklist
MEDIUM = ratings(3, 3)  # 9: one approval, both checklists
CRITICAL = ratings(5, 5)  # 25: three approvals, both checklists
SHORT_OF_CRITICAL = "It has 1 of the 3 approvals its current tier (critical) requires; ask 2 more reviewers."


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(3)]


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def reassess(model, tier_ratings):
    """A reviewer's new assessment of ``model`` with its exposure and automation as they are now."""
    model.refresh_from_db()
    current = current_assessment(model)
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=tier_ratings, exposure=model.exposure,
                                                automation_level=model.automation_level)
    return risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=current.pk if current else None)


def to_production(user, version):
    return api_as(user).post(f"/api/v1/model-versions/{version.pk}/transition/", {"stage": "production"},
                             format="json")


def approved_review(*, submitter, reviewer, tier_ratings):
    review = submitted_review(submitter=submitter, tier_ratings=tier_ratings)
    services.review_decide(actor=reviewer, review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "approved"
    return review


def test_the_model_page_says_what_the_gate_says_once_the_tier_rose(scientist, reviewers, client):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=LOW)
    client.force_login(scientist)
    page = client.get(review.version.model.get_absolute_url()).content.decode()
    assert '<span class="ok">ready</span>' in page

    reassess(review.version.model, CRITICAL)

    page = client.get(review.version.model.get_absolute_url()).content.decode()
    assert '<span class="ok">ready</span>' not in page
    assert SHORT_OF_CRITICAL in page


def test_it_refuses_production_when_the_tier_rose_after_a_one_approval_sign_off(scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=LOW)
    reassess(review.version.model, CRITICAL)

    assert services.valid_approval(review.version) is None
    problems = production_problems(review.version)
    assert SHORT_OF_CRITICAL in problems
    assert any("demands the accountability checklist" in p for p in problems)
    refused = to_production(scientist, review.version)
    assert refused.status_code == 409 and SHORT_OF_CRITICAL in refused.json()["detail"]
    review.version.refresh_from_db()
    assert review.version.stage != "production"


def test_it_refuses_an_approval_of_a_round_without_the_checklists_the_current_tier_demands(scientist, reviewers):
    review = submitted_review(submitter=scientist, tier_ratings=LOW)  # opened while low: intentionality only
    reassess(review.version.model, CRITICAL)
    with pytest.raises(ConflictError, match="demands the accountability checklist.*start a new one"):
        services.review_decide(actor=reviewers[0], review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "submitted" and not review.decisions.exists()
    assert to_production(scientist, review.version).status_code == 409


def test_a_round_decided_after_the_tier_rose_needs_the_current_number_of_approvals(scientist, reviewers):
    review = submitted_review(submitter=scientist, tier_ratings=MEDIUM)
    assert review.required_approvals == 1
    reassess(review.version.model, CRITICAL)
    for reviewer, state in zip(reviewers, ["in_review", "in_review", "approved"], strict=True):
        services.review_decide(actor=reviewer, review=review, decision="approve")
        review.refresh_from_db()
        assert review.state == state
    assert services.valid_approval(review.version) == review
    assert to_production(scientist, review.version).status_code == 200


def test_an_approved_round_reopens_for_the_approvals_a_higher_tier_demands(scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=MEDIUM)
    reassess(review.version.model, CRITICAL)
    assert services.approval_problems(review.version) == [SHORT_OF_CRITICAL]

    services.review_decide(actor=reviewers[1], review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "in_review"
    reopened = AuditEvent.objects.get(action="review.reopened", object_id=str(review.pk))
    assert reopened.changes["state"] == ["approved", "in_review"] and SHORT_OF_CRITICAL in reopened.reason
    services.review_decide(actor=reviewers[2], review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "approved" and services.approval_problems(review.version) == []


def test_a_lower_tier_does_not_reopen_nor_weaken_an_approval(scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=MEDIUM)
    reassess(review.version.model, LOW)
    assert services.valid_approval(review.version) == review


def test_exposure_made_public_and_fully_automated_holds_the_gate_until_re_assessed(scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=LOW)
    model = review.version.model
    changed = api_as(scientist).patch(f"/api/v1/models/{model.slug}/",
                                      {"exposure": "public", "automation_level": "fully_automated"}, format="json")
    assert changed.status_code == 200, changed.content

    refused = to_production(scientist, review.version)
    assert refused.status_code == 409 and "Risk re-assessment pending" in refused.json()["detail"]
    browser = APIClient()
    browser.force_login(scientist)
    risk_page = browser.get(reverse("risk:model", args=[model.slug])).content.decode()
    assert "Re-assessment pending: automation_level, exposure changed" in risk_page
    with pytest.raises(ConflictError, match="re-assessment pending"):
        inventory.version_transition(actor=scientist, version=review.version, to_stage="production")

    reassess(model, LOW)  # low risks, but public and fully automated: two steps up, high
    assert obligations_for(model).tier == "high"
    problems = production_problems(review.version)
    assert not any("re-assessment" in p for p in problems)
    assert "It has 1 of the 2 approvals its current tier (high) requires; ask 1 more reviewer." in problems


def test_facts_that_score_higher_than_the_assessment_hold_the_gate(scientist):
    model = MLModelFactory(exposure="public", automation_level="fully_automated")
    # The assessor scored it as an internal, advisory model.
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=LOW, exposure="internal",
                                                automation_level="human_decides")
    risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=None)
    version = ModelVersionFactory(model=model)
    obligations = obligations_for(model)
    assert obligations.tier == "low"
    assert "now imply the high tier, above the assessed low" in obligations.reassessment_pending
    assert any(p.startswith("Risk re-assessment pending") for p in production_problems(version))


def test_a_stricter_assessment_than_the_facts_holds_nothing(scientist):
    model = MLModelFactory(exposure="internal")
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=LOW, exposure="public")
    risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=None)
    assert obligations_for(model).reassessment_pending == ""


def test_a_monitoring_breach_asks_for_a_re_assessment_without_holding_the_gate(scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=LOW)
    risk_services.reassessment_request(model=review.version.model, reason="Monitoring breach on accuracy.")
    assert production_problems(review.version) == []


def test_the_pages_and_the_api_show_what_the_current_policy_requires(client, scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=MEDIUM)
    reassess(review.version.model, CRITICAL)
    client.force_login(scientist)

    page = client.get(review.get_absolute_url()).content.decode()
    assert "1 of 3 approvals" in page and SHORT_OF_CRITICAL in page
    rounds = client.get(reverse("reviews:version", args=[review.version.pk])).content.decode()
    assert "1 of 3 <small" in rounds and "(1 when opened)" in rounds
    mine = client.get(reverse("reviews:index")).content.decode()
    assert "1 of 3 <small" in mine
    listed = api_as(scientist).get("/api/v1/reviews/").json()["results"][0]
    assert listed["required_approvals_now"] == 3 and listed["required_approvals"] == 1
    report = client.get(reverse("reviews:report", args=[review.pk]) + "?format=md").content.decode()
    assert "1 of 3 required" in report and SHORT_OF_CRITICAL in report


def test_a_reviewer_sees_an_approved_round_short_of_the_current_policy_in_the_queue(client, scientist, reviewers):
    review = approved_review(submitter=scientist, reviewer=reviewers[0], tier_ratings=MEDIUM)
    reassess(review.version.model, CRITICAL)
    assert review in selectors.awaiting_decision(reviewers[1])
    assert review not in selectors.awaiting_decision(reviewers[0])  # already decided
    client.force_login(reviewers[1])
    page = client.get(review.get_absolute_url()).content.decode()
    assert 'class="decision-form"' in page

import copy
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.inventory.models import Stage
from apps.notifications.models import Notification
from apps.risk import selectors, services
from apps.risk.models import GovernancePolicy, RiskAssessment
from apps.risk.scoring import DEFAULT_MATRIX
from tests.inventory.factories import MLModelFactory
from tests.risk.factories import ratings


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer", username="rita")


@pytest.fixture
def credit_model(make_user):
    return MLModelFactory(name="Retail credit scoring", exposure="customer_facing",
                          automation_level="human_reviews", accountable_owner=make_user("executive", username="erin"))


def assess(actor, model, *, based_on=None, **context):
    draft = services.assessment_save_draft(actor=actor, model=model, ratings=context.pop("ratings", ratings()),
                                           **context)
    return services.assessment_submit(actor=actor, assessment=draft, based_on_id=based_on)


def test_a_customer_facing_credit_model_lands_high_or_critical(reviewer, credit_model):
    assessment = assess(reviewer, credit_model, regulated_domain="credit", exposure="customer_facing",
                        ratings=ratings(wrong_prediction=(3, 4)))
    assert assessment.base_tier == "high"  # 3 x 4 = 12
    assert assessment.tier == "critical"  # customer-facing +1
    assert assessment.status == "current" and assessment.policy.tier == "critical"
    assert assessment.reassessment_due == (timezone.now() + timedelta(days=90)).date()
    obligations = selectors.obligations_for(credit_model)
    assert obligations.tier == "critical" and obligations.required_approvals == 3
    assert obligations.policy.monitoring_cadence == "daily"


def test_a_new_assessment_supersedes_the_last_and_keeps_it(reviewer, credit_model):
    first = assess(reviewer, credit_model)
    second = assess(reviewer, credit_model, based_on=first.pk, ratings=ratings(degradation=(4, 4)))
    first.refresh_from_db()
    assert first.status == "superseded" and second.supersedes == first
    event = AuditEvent.objects.filter(action="risk_assessment.submitted").order_by("-seq").first()
    assert event.changes["ratings"][0]["degradation"] == "P2 x I2 = low"
    assert event.changes["ratings"][1]["degradation"] == "P4 x I4 = high"


def test_a_stale_form_is_refused_and_changes_nothing(reviewer, make_user, credit_model):
    first = assess(reviewer, credit_model)
    other = make_user("reviewer", username="ravi")
    assess(other, credit_model, based_on=first.pk)
    stale = services.assessment_save_draft(actor=reviewer, model=credit_model, ratings=ratings())
    with pytest.raises(ConflictError, match="ravi submitted a newer assessment"):
        services.assessment_submit(actor=reviewer, assessment=stale, based_on_id=first.pk)
    stale.refresh_from_db()
    assert stale.status == "draft" and RiskAssessment.objects.filter(status="current").count() == 1


def test_missing_ratings_are_refused_on_submit(reviewer, credit_model):
    partial = ratings()
    del partial["skills_loss"]
    draft = services.assessment_save_draft(actor=reviewer, model=credit_model, ratings=partial)
    with pytest.raises(DomainError, match="unrated risks: Loss of skills"):
        services.assessment_submit(actor=reviewer, assessment=draft, based_on_id=None)
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_out_of_range_values_are_refused(reviewer, credit_model):
    with pytest.raises(DomainError, match="probability must be 1-5, got 7"):
        services.assessment_save_draft(actor=reviewer, model=credit_model, ratings=ratings(degradation=(7, 2)))
    assert not RiskAssessment.objects.exists()


def test_a_retired_model_cannot_be_assessed(reviewer):
    with pytest.raises(ConflictError, match="retired"):
        services.assessment_save_draft(actor=reviewer, model=MLModelFactory(stage=Stage.RETIRED), ratings=ratings())


def test_data_scientists_draft_but_only_reviewers_submit(make_user, credit_model):
    scientist = make_user("data_scientist")
    credit_model.team.members.add(scientist)
    draft = services.assessment_save_draft(actor=scientist, model=credit_model, ratings=ratings())
    with pytest.raises(PermissionDeniedError):
        services.assessment_submit(actor=scientist, assessment=draft, based_on_id=None)
    with pytest.raises(PermissionDeniedError):
        services.assessment_save_draft(actor=make_user("executive"), model=credit_model, ratings=ratings())


def test_a_new_matrix_changes_only_new_assessments(reviewer, make_user, credit_model):
    old = assess(reviewer, credit_model, exposure="internal")
    assert old.tier == "low"
    strict = copy.deepcopy(DEFAULT_MATRIX)
    strict["grid"] = [["high"] * 5 for _ in range(5)]
    admin = make_user("admin")
    matrix = services.matrix_publish(actor=admin, config=strict, note="Everything is high for the audit")
    old.refresh_from_db()
    assert old.tier == "low" and old.matrix.version == 1
    new = assess(reviewer, credit_model, based_on=old.pk, exposure="internal")
    assert new.tier == "high" and new.matrix == matrix
    assert AuditEvent.objects.filter(action="risk_matrix.published", reason__contains="audit").exists()


def test_a_malformed_matrix_is_refused(make_user):
    bad = copy.deepcopy(DEFAULT_MATRIX)
    bad["grid"][0][0] = "extreme"
    with pytest.raises(DomainError, match="'extreme' is not one of"):
        services.matrix_publish(actor=make_user("admin"), config=bad, note="typo")


def test_policies_are_versioned_and_only_admins_publish(make_user):
    admin = make_user("admin")
    policy = services.policy_publish(actor=admin, tier="low", note="lighter", required_approvals=1,
                                     checklists=["intentionality"], monitoring_cadence="monthly",
                                     metric_thresholds={}, reassessment_days=400)
    assert policy.version == 2 and GovernancePolicy.objects.filter(tier="low").count() == 2
    assert selectors.policy_for_tier("low") == policy
    with pytest.raises(PermissionDeniedError):
        services.policy_publish(actor=make_user("reviewer"), tier="low", note="x", required_approvals=1,
                                checklists=[], monitoring_cadence="monthly", metric_thresholds={},
                                reassessment_days=30)


def test_overdue_assessments_notify_the_owner_once(reviewer, credit_model, django_capture_on_commit_callbacks):
    # One delivery task per transaction: the one the assessment queued delivers the later notice too, so the
    # capture covers the whole transaction, as a commit would.
    with django_capture_on_commit_callbacks(execute=True):
        assessment = assess(reviewer, credit_model)
        RiskAssessment.objects.filter(pk=assessment.pk).update(
            reassessment_due=timezone.localdate() - timedelta(days=1))
        assert services.mark_overdue_and_notify() == 1
        assert services.mark_overdue_and_notify() == 0
    notification = Notification.objects.get(subject__contains="overdue")
    assert notification.recipient.username == "erin" and notification.emailed_at is not None
    assert any("overdue" in m.subject for m in mail.outbox)
    assert selectors.obligations_for(credit_model).overdue


def test_an_unassessed_model_gets_the_strictest_obligations(credit_model):
    obligations = selectors.obligations_for(credit_model)
    assert not obligations.assessed and obligations.policy.tier == "critical"


def test_reassessment_requests_are_recorded_once_and_resolved_by_the_next_assessment(reviewer, credit_model):
    services.reassessment_request(model=credit_model, reason="exposure changed to public")
    assert services.reassessment_request(model=credit_model, reason="exposure changed to public") is None
    assessment = assess(reviewer, credit_model)
    assert credit_model.reassessment_triggers.get().resolved_by == assessment


def test_a_policy_with_many_problems_names_the_first_ten(make_user):
    thresholds = {f"metric{n}_min": 0.5 for n in range(50)}
    with pytest.raises(DomainError, match="And 40 more problems.$") as refused:
        services.policy_publish(actor=make_user("admin"), tier="low", note="typos", required_approvals=1,
                                checklists=["intentionality"], monitoring_cadence="monthly",
                                metric_thresholds=thresholds, reassessment_days=30)
    assert refused.value.field == "metric_thresholds" and refused.value.message.count("unknown metric") == 10


def test_a_mitigation_is_updated_by_the_models_team_and_by_reviewers_not_by_other_teams(make_user, reviewer,
                                                                                         credit_model):
    with_mitigation = ratings()
    with_mitigation["unavailable"]["mitigations"] = [{"action": "fail over to the rules engine"}]
    draft = services.assessment_save_draft(actor=reviewer, model=credit_model, ratings=with_mitigation)
    mitigation = draft.ratings.get(risk="unavailable").mitigations.get()

    with pytest.raises(PermissionDeniedError, match="ask"):
        services.mitigation_update(actor=make_user("data_scientist"), mitigation=mitigation, status="done")
    member = make_user("data_scientist")
    credit_model.team.members.add(member)
    assert services.mitigation_update(actor=member, mitigation=mitigation, status="in_progress").status == "in_progress"
    assert services.mitigation_update(actor=reviewer, mitigation=mitigation, status="done").status == "done"

"""The issue's scenarios, through the services a real user's actions run: every change lands in the stored state
in the same transaction, the gate reads it, and the audit trail records each change of state."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.governance import services as governance
from apps.inventory import services as inventory
from apps.inventory.models import ModelGovernance, VersionGovernance
from apps.monitoring.models import Evaluation
from apps.reviews import services as reviews
from apps.risk import services as risk
from tests.inventory.factories import DataSetFactory
from tests.monitoring.test_services import evaluation_csv, upload
from tests.reviews.helpers import submitted_review
from tests.risk.factories import ratings

LOW = ratings(1, 1)  # the default matrix scores it low: one approval, monthly monitoring, alerts only
CRITICAL = ratings(5, 5)  # three approvals, daily monitoring, a breach suspends the approval


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(3)]


def approved(scientist, reviewers, *, tier_ratings=LOW, approvals=1):
    review = submitted_review(submitter=scientist, tier_ratings=tier_ratings)
    for reviewer in reviewers[:approvals]:
        reviews.review_decide(actor=reviewer, review=review, decision="approve")
    return review.version


def in_production(scientist, reviewers, **kwargs):
    version = approved(scientist, reviewers, **kwargs)
    return inventory.version_transition(actor=scientist, version=version, to_stage="production")


def state(obj):
    row = (VersionGovernance if hasattr(obj, "model_id") else ModelGovernance).objects.get(pk=obj.pk)
    return row.status, row.health, row.approval, row.codes


def reassess(model, tier_ratings):
    draft = risk.assessment_save_draft(actor=None, model=model, ratings=tier_ratings, exposure=model.exposure)
    current = model.risk_assessments.filter(status="current").first()
    risk.assessment_submit(actor=None, assessment=draft, based_on_id=current.pk if current else None)


def test_a_new_production_version_owes_its_first_evidence_and_is_not_healthy(scientist, reviewers):
    version = in_production(scientist, reviewers)
    assert state(version) == ("attention", "no_evidence", "approved", ["monitoring_due"])
    assert state(version.model) == ("attention", "no_evidence", "approved", ["monitoring_due"])
    event = AuditEvent.objects.filter(action="governance.changed", object_id=str(version.model_id),
                                      object_type="inventory.mlmodel").order_by("seq").last()
    assert event.changes["health"][1] == "no_evidence" and "moved to production" in event.reason


def test_a_tier_raised_after_approval_leaves_one_approval_of_three(scientist, reviewers):
    version = approved(scientist, reviewers)
    assert state(version)[2] == "approved"
    reassess(version.model, CRITICAL)
    status, _health, approval, codes = state(version)
    # The approvals are owed before production.
    assert (status, approval, codes) == ("compliant", "insufficient", ["approval_insufficient"])
    with pytest.raises(ConflictError, match="1 of the 3 approvals its current tier"):
        inventory.version_transition(actor=scientist, version=version, to_stage="production")


def test_a_breach_on_a_critical_model_suspends_the_approval_until_a_risk_is_accepted(
        scientist, reviewers, make_user, django_capture_on_commit_callbacks):
    version = in_production(scientist, reviewers, tier_ratings=CRITICAL, approvals=3)
    data, _ = evaluation_csv(flip_female=0.9)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation, _ = upload(scientist, version, data, kind=Evaluation.Kind.PRODUCTION)
    evaluation.refresh_from_db()
    assert evaluation.status == "done"
    status, health, approval, codes = state(version)
    assert (status, health, approval) == ("suspended", "breach", "suspended")
    assert {"approval_suspended", "alert_breach"} <= set(codes)
    assert state(version.model)[0] == "suspended"
    # The gate refuses to deploy the suspended version anywhere else in production.
    with pytest.raises(ConflictError, match="suspends the approval"):
        inventory.deployment_create(actor=scientist, version=version, environment="production", target="eu-2")
    # The owner's side cannot accept; an independent reviewer can, for a while and with a reason.
    owning_reviewer = make_user("reviewer", username="owning")
    version.model.technical_owners.add(owning_reviewer)
    with pytest.raises(PermissionDeniedError, match="Four-eyes"):
        governance.risk_accept(actor=owning_reviewer, version=version, reason="x" * 30,
                               expires_on=timezone.localdate())
    other = make_user("reviewer", username="independent")
    with pytest.raises(DomainError, match="at least 20 characters"):
        governance.risk_accept(actor=other, version=version, reason="fine", expires_on=timezone.localdate())
    governance.risk_accept(actor=other, version=version, reason="Retraining under way; manual checks on women.",
                           expires_on=timezone.localdate() + timedelta(days=2))
    assert state(version)[:3] == ("non_compliant", "breach", "approved")
    assert AuditEvent.objects.filter(action="risk.accepted", object_id=str(version.pk)).exists()
    # Three days later the acceptance has expired: the beat task suspends the approval again.
    later = timezone.now() + timedelta(days=3)
    assert governance.governance_refresh_due(now=later) >= 1
    assert VersionGovernance.objects.get(pk=version.pk).approval == "suspended"


def test_a_breach_on_a_low_tier_model_raises_an_alert_only(scientist, reviewers, django_capture_on_commit_callbacks):
    version = in_production(scientist, reviewers)
    data, _ = evaluation_csv(flip_female=0.9)
    with django_capture_on_commit_callbacks(execute=True):
        upload(scientist, version, data, kind=Evaluation.Kind.PRODUCTION)
    status, health, approval, codes = state(version)
    assert (status, health, approval, codes) == ("non_compliant", "breach", "approved", ["alert_breach"])


def test_a_lapsed_cadence_is_found_by_the_beat_task(scientist, reviewers):
    version = in_production(scientist, reviewers)
    row = VersionGovernance.objects.get(pk=version.pk)
    assert row.recheck_at is not None
    governance.governance_refresh_due(now=row.recheck_at + timedelta(seconds=1))
    assert state(version) == ("non_compliant", "no_evidence", "approved", ["monitoring_never"])


def test_changing_a_training_data_sets_hash_voids_the_approval_everywhere(scientist, reviewers):
    dataset = DataSetFactory(owner=scientist)
    version = approved(scientist, reviewers)
    inventory.version_update(actor=scientist, version=version, training_datasets=[dataset])
    reviews.review_start(actor=scientist, version=version)  # a fresh round is needed after the data changed
    version = approved(scientist, reviewers)
    inventory.version_update(actor=scientist, version=version, training_datasets=[dataset])
    inventory.dataset_update(actor=None, dataset=dataset, content_sha256="c" * 64)
    assert state(version)[2] == "void"


def test_deactivating_the_owner_from_any_screen_changes_the_state(scientist, reviewers):
    version = in_production(scientist, reviewers)
    owner = version.model.accountable_owner
    owner.is_active = False
    owner.save()
    assert "owner_inactive" in state(version.model)[3]
    assert state(version.model)[0] == "non_compliant"


def test_verify_governance_finds_a_tampered_state_and_fixes_it(scientist, reviewers, capsys):
    version = in_production(scientist, reviewers)
    call_command("verify_governance")
    VersionGovernance.objects.filter(pk=version.pk).update(status="compliant", reason_codes=[])
    with pytest.raises(CommandError, match="2 stored governance values differ"):
        call_command("verify_governance")
    call_command("verify_governance", "--fix")
    call_command("verify_governance")
    assert state(version)[0] == "attention"

"""Everything an approval attests is in its content hash; changing any of it voids the approval visibly."""

import importlib

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.inventory import services as inventory
from apps.inventory.gates import production_problems
from apps.reviews import services
from apps.reviews.models import Review
from tests.inventory.factories import DataSetFactory, ModelVersionFactory
from tests.reviews.helpers import assessed_version, submitted_review

NO_APPROVAL = "so the approval no longer holds; it needs a new review"


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer", username="rita")


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def approve(review, reviewer) -> Review:
    services.review_decide(actor=reviewer, review=review, decision="approve")
    review.refresh_from_db()
    assert review.state == "approved" and services.valid_approval(review.version) == review
    return review


def assert_voided(review, *, mentioning: str) -> None:
    review.refresh_from_db()
    assert review.state == "expired"
    event = AuditEvent.objects.get(action="review.voided", object_id=str(review.pk))
    assert event.changes["state"] == ["approved", "expired"] and mentioning in event.reason
    assert services.valid_approval(review.version) is None
    assert any(NO_APPROVAL in problem for problem in production_problems(review.version))


@pytest.mark.parametrize(("field", "value"), [
    ("framework", "xgboost 2.1.0"),
    ("validated_environment", {"python": "3.12.1", "os": "Linux", "packages": {"xgboost": "2.1.0"}}),
    ("validation_metrics", {"roc_auc": 0.55}),
    ("algorithm", "random forest"),
    ("hyperparameters", {"max_depth": 12}),
    ("artifact_uri", "s3://models/other.pkl"),
    ("artifact_sha256", "b" * 64),
])
def test_patching_an_attested_field_voids_the_approval_and_holds_the_gate(scientist, reviewer, field, value):
    review = approve(submitted_review(submitter=scientist), reviewer)
    response = api_as(scientist).patch(f"/api/v1/model-versions/{review.version.pk}/", {field: value}, format="json")
    assert response.status_code == 200, response.content

    assert_voided(review, mentioning=field)
    refused = api_as(scientist).post(f"/api/v1/model-versions/{review.version.pk}/transition/",
                                     {"stage": "production"}, format="json")
    assert refused.status_code == 409 and NO_APPROVAL in refused.json()["detail"]


def test_new_content_of_a_training_data_set_voids_the_approval_of_every_version_trained_on_it(scientist, reviewer):
    data = DataSetFactory(content_sha256="c" * 64)
    reviews = []
    for _ in range(2):
        version = assessed_version(team__members=[scientist])
        version.training_datasets.set([data])
        reviews.append(approve(submitted_review(submitter=scientist, version=version), reviewer))
    untouched = approve(submitted_review(submitter=scientist), reviewer)

    response = api_as(scientist).patch(f"/api/v1/datasets/{data.slug}/", {"content_sha256": "d" * 64}, format="json")
    assert response.status_code == 200, response.content

    for review in reviews:
        assert_voided(review, mentioning=f"content_sha256 of training data set {data}")
    assert services.valid_approval(untouched.version) == untouched


def test_a_change_to_a_data_set_that_is_not_its_content_keeps_the_approvals(scientist, reviewer):
    data = DataSetFactory(content_sha256="c" * 64)
    version = assessed_version(team__members=[scientist])
    version.training_datasets.set([data])
    review = approve(submitted_review(submitter=scientist, version=version), reviewer)
    inventory.dataset_update(actor=scientist, dataset=data, description="documented the columns")
    assert services.valid_approval(version) == review


def test_a_description_edit_or_a_stage_move_keeps_the_approval(scientist, reviewer):
    review = approve(submitted_review(submitter=scientist), reviewer)
    inventory.version_update(actor=scientist, version=review.version, description="clearer wording")
    inventory.version_transition(actor=scientist, version=review.version, to_stage="staging")
    review.refresh_from_db()
    assert review.state == "approved" and services.valid_approval(review.version) == review
    assert not AuditEvent.objects.filter(action="review.voided").exists()


def test_an_open_round_is_withdrawn_when_its_attested_content_changes(scientist):
    review = submitted_review(submitter=scientist)
    inventory.version_update(actor=scientist, version=review.version, validation_metrics={"roc_auc": 0.6})
    review.refresh_from_db()
    assert review.state == "withdrawn"
    assert AuditEvent.objects.filter(action="review.voided", object_id=str(review.pk)).exists()


def test_the_review_page_shows_what_the_approval_attests(client, scientist):
    version = ModelVersionFactory(framework="lightgbm 4.5", validation_metrics={"roc_auc": 0.91},
                                  model__team__members=[scientist])
    review = services.review_start(actor=scientist, version=version)
    client.force_login(scientist)
    page = client.get(review.get_absolute_url()).content.decode()
    assert "lightgbm 4.5" in page and "roc_auc" in page and "scikit-learn" in page  # framework, metrics, environment


def test_the_upgrade_re_stamps_hashes_that_still_matched_and_leaves_stale_ones_stale(scientist, reviewer):
    migration = importlib.import_module("apps.reviews.migrations.0003_rehash_attested_content")
    kept = approve(submitted_review(submitter=scientist), reviewer)
    stale = approve(submitted_review(submitter=scientist), reviewer)
    for review in (kept, stale):
        # As the previous release stamped them: without framework, metrics and environment.
        old = migration._digest(review.version, list(review.answers.all()), migration.OLD_FIELDS)
        Review.objects.filter(pk=review.pk).update(content_hash=old)
        review.decisions.update(content_hash=old)
    stale.version.artifact_sha256 = "e" * 64  # changed after approval: the old hash no longer matches
    stale.version.save(update_fields=["artifact_sha256"])

    migration.rehash(django_apps, None)

    kept.refresh_from_db()
    assert kept.content_hash == services.current_hash(kept) == kept.decisions.get().content_hash
    assert services.valid_approval(kept.version) == kept
    stale.refresh_from_db()
    assert services.valid_approval(stale.version) is None

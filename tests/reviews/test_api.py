import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.inventory import services as inventory
from apps.reviews import services
from apps.reviews.models import Review, ReviewDecision
from tests.factories import api_key_for
from tests.reviews.helpers import assessed_version, submitted_review
from tests.risk.factories import ratings

URL = "/api/v1/reviews/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
        return client

    return client_for


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def test_it_runs_a_high_tier_review_end_to_end(api, scientist, make_user):
    owner = make_user("executive", username="erin")
    version = assessed_version(tier_ratings=ratings(degradation=(4, 4)), accountable_owner=owner,
                               team__members=[scientist])
    sam = api(scientist)
    created = sam.post(URL, {"version": version.pk}, format="json")
    assert created.status_code == 201
    review = created.json()
    # Eleven items; the owner answers "owner acknowledged" by acknowledging, so ten answer rows.
    assert review["state"] == "draft" and review["required_approvals"] == 2 and len(review["answers"]) == 10
    detail = f"{URL}{review['id']}/"

    first = review["answers"][0]["item"]
    upload = sam.post(f"{detail}answers/", {"item": first, "answer": "yes", "evidence": "fairness report",
                                            "evidence_file": SimpleUploadedFile("fairness.pdf", b"%PDF rates")},
                      format="multipart")
    assert upload.status_code == 200
    answered = next(a for a in upload.json()["answers"] if a["item"] == first)
    assert len(answered["evidence_sha256"]) == 64 and f"/reviews/{review['id']}/evidence/" in answered["evidence_file"]
    for answer in review["answers"][1:]:
        response = sam.post(f"{detail}answers/", {"item": answer["item"], "answer": "yes",
                                                  "evidence": "see the model card"}, format="json")
        assert response.status_code == 200
    submitted = sam.post(f"{detail}submit/")
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    seen = submitted.json()["content_hash"]

    rita, rolf = api(make_user("reviewer", username="rita")), api(make_user("reviewer", username="rolf"))
    assert sam.post(f"{detail}assign/", {"reviewer": "rita"}, format="json").json()["assignees"] == ["rita"]
    one = rita.post(f"{detail}decide/", {"decision": "approve", "comment": "ok", "seen_hash": seen}, format="json")
    assert one.status_code == 200 and one.json()["state"] == "in_review" and one.json()["approvals"] == 1
    two = rolf.post(f"{detail}decide/", {"decision": "approve", "seen_hash": seen}, format="json")
    assert two.json()["state"] == "approved" and [d["reviewer"] for d in two.json()["decisions"]] == ["rita", "rolf"]

    ack = api(owner).post(f"{detail}acknowledge/", {"confirm": True}, format="json")
    assert ack.status_code == 200 and ack.json()["owner_acknowledged_by"] == "erin"
    version = inventory.version_transition(actor=scientist, version=version, to_stage="production")
    assert version.stage == "production"


def test_an_illegal_transition_is_409_json(api, scientist, make_user):
    review = submitted_review(submitter=scientist)
    services.review_withdraw(actor=scientist, review=review, reason="new data")
    response = api(make_user("reviewer")).post(f"{URL}{review.pk}/decide/", {"decision": "approve"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == ("Cannot approve a review that is withdrawn; it is final.")


def test_the_four_eyes_rule_is_403_json(api, make_user):
    both = make_user("reviewer", username="both")
    both.groups.add(*make_user("data_scientist").groups.all())
    review = submitted_review(submitter=both)
    response = api(both).post(f"{URL}{review.pk}/decide/", {"decision": "approve"}, format="json")
    assert response.status_code == 403 and "Four-eyes rule" in response.json()["detail"]
    assert not ReviewDecision.objects.exists()


def test_a_reviewer_confirms_and_disputes_items_through_the_api(api, scientist, make_user):
    review = submitted_review(submitter=scientist)
    bias, purpose = (review.answers.get(item__key=key).item_id for key in ("bias_checked", "purpose_matches_intent"))
    client = api(make_user("reviewer", username="rita"))
    unexplained = client.post(f"{URL}{review.pk}/decide/", {
        "decision": "request_changes", "comment": "see items",
        "verdicts": [{"item": bias, "verdict": "dispute"}]}, format="json")
    assert unexplained.status_code == 400 and unexplained.json()["field"] == f"reason_{bias}"
    approving = client.post(f"{URL}{review.pk}/decide/", {
        "decision": "approve", "verdicts": [{"item": bias, "verdict": "dispute", "reason": "no groups"}]},
        format="json")
    assert approving.status_code == 400 and "request changes or reject instead" in approving.json()["detail"]
    done = client.post(f"{URL}{review.pk}/decide/", {
        "decision": "request_changes", "comment": "see items",
        "verdicts": [{"item": bias, "verdict": "dispute", "reason": "no groups"},
                     {"item": purpose, "verdict": "confirm"}]}, format="json")
    assert done.status_code == 200
    verdicts = done.json()["decisions"][0]["verdicts"]
    assert {(v["key"], v["verdict"], v["reason"]) for v in verdicts} == {
        ("bias_checked", "dispute", "no groups"), ("purpose_matches_intent", "confirm", "")}


def test_a_stale_hash_is_409(api, scientist, make_user):
    review = submitted_review(submitter=scientist)
    response = api(make_user("reviewer")).post(f"{URL}{review.pk}/decide/",
                                               {"decision": "approve", "seen_hash": "f" * 64}, format="json")
    assert response.status_code == 409 and "reload the review" in response.json()["detail"]


def test_bad_input_is_400_naming_the_field(api, scientist, make_user):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    client = api(scientist)
    item = review.answers.first().item_id
    bad = client.post(f"{URL}{review.pk}/answers/", {"item": item, "answer": "maybe"}, format="json")
    assert bad.status_code == 400 and "answer" in bad.json()
    unknown = client.post(f"{URL}{review.pk}/answers/", {"item": 999999, "answer": "yes"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "item"
    reject = api(make_user("reviewer")).post(f"{URL}{review.pk}/decide/", {"decision": "reject"}, format="json")
    assert reject.status_code == 409  # a draft cannot be decided, whatever the comment


def test_write_roles_are_checked_per_action(api, scientist, make_user):
    review = submitted_review(submitter=scientist)
    reviewer, executive = api(make_user("reviewer")), api(make_user("executive"))
    assert reviewer.post(URL, {"version": review.version.pk}, format="json").status_code == 403
    assert reviewer.post(f"{URL}{review.pk}/withdraw/", {"reason": "x"}, format="json").status_code == 403
    assert api(scientist).post(f"{URL}{review.pk}/decide/", {"decision": "approve"}, format="json").status_code == 403
    assert executive.post(f"{URL}{review.pk}/assign/", {"reviewer": "sam"}, format="json").status_code == 403
    refused = executive.post(f"{URL}{review.pk}/acknowledge/", {"confirm": True}, format="json")
    assert refused.status_code == 403 and "accountable owner" in refused.json()["detail"]
    assert executive.get(f"{URL}{review.pk}/").status_code == 200


def test_it_lists_reviews_filtered_by_state_version_and_model(api, scientist):
    draft = services.review_start(actor=scientist, version=assessed_version(name="Churn", team__members=[scientist]))
    submitted = submitted_review(submitter=scientist, name="Credit scoring")
    client = api(scientist)
    ids = lambda **params: [r["id"] for r in client.get(URL, params).json()["results"]]  # noqa: E731
    assert set(ids()) == {draft.pk, submitted.pk}
    assert ids(state="submitted") == [submitted.pk]
    assert ids(version=draft.version.pk) == [draft.pk]
    assert ids(model=submitted.version.model.slug) == [submitted.pk]
    listed = client.get(URL).json()["results"][0]
    assert "answers" not in listed and listed["page"].endswith(f"/reviews/{listed['id']}/")


def test_the_list_costs_a_constant_number_of_queries(api, scientist, make_user, django_assert_max_num_queries):
    reviewer = make_user("reviewer")
    for _ in range(6):
        review = submitted_review(submitter=scientist)
        services.review_assign(actor=scientist, review=review, reviewer=reviewer)
    client = api(scientist)
    with django_assert_max_num_queries(6):
        assert len(client.get(URL).json()["results"]) == 6


def test_withdraw_and_a_new_round_through_the_api(api, scientist):
    review = submitted_review(submitter=scientist)
    client = api(scientist)
    assert client.post(f"{URL}{review.pk}/withdraw/", {}, format="json").status_code == 400
    withdrawn = client.post(f"{URL}{review.pk}/withdraw/", {"reason": "retrained"}, format="json")
    assert withdrawn.json()["state"] == "withdrawn"
    second = client.post(URL, {"version": review.version.pk}, format="json")
    assert second.status_code == 201 and second.json()["round"] == 2
    assert Review.objects.filter(version=review.version).count() == 2
    assert AuditEvent.objects.filter(action="review.withdrawn", reason="retrained").exists()


def test_acknowledging_needs_an_explicit_true(api, scientist, make_user):
    owner = make_user("executive")
    review = submitted_review(submitter=scientist, accountable_owner=owner)
    response = api(owner).post(f"{URL}{review.pk}/acknowledge/", {"confirm": False}, format="json")
    assert response.status_code == 400 and "confirm" in response.json()
    review.refresh_from_db()
    assert review.owner_acknowledged_at is None

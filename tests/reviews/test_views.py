import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.errors import ConflictError, DomainError
from apps.core.models import AuditEvent
from apps.inventory import services as inventory
from apps.inventory.models import Stage
from apps.reviews import services
from apps.reviews.models import ChecklistAnswer, Review, ReviewDecision
from tests.inventory.factories import ModelVersionFactory
from tests.reviews.helpers import assessed_version, submitted_review
from tests.risk.factories import ratings

FOUR_EYES = "Four-eyes rule: you cannot decide on this review because you submitted this review"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewers(make_user):
    return [make_user("reviewer", username=f"rev{i}") for i in range(3)]


def login(client, user):
    client.force_login(user)
    return client


def answers_post(review, *, submit=False, **overrides) -> dict:
    data = {}
    for answer in review.answers.all():
        n = answer.item_id
        data.update({f"answer_{n}": "yes", f"evidence_{n}": f"evidence for {answer.item.key}",
                     f"link_{n}": "https://wiki.example.org/fairness"})
    data.update(overrides)
    if submit:
        data["submit"] = "1"
    return data


def decide(client, review, decision="approve", comment="", seen_hash=None):
    return client.post(reverse("reviews:decide", args=[review.pk]),
                       {"decision": decision, "comment": comment,
                        "seen_hash": review.content_hash if seen_hash is None else seen_hash})


# --- The journey ---------------------------------------------------------------------------

def test_it_takes_a_high_tier_version_from_review_to_production_with_two_other_reviewers(client, make_user, reviewers):
    sam = make_user("data_scientist", username="sam")
    sam.groups.add(*reviewers[0].groups.all())  # sam is also a reviewer: the four-eyes rule must still stop him
    owner = make_user("executive", username="erin")
    version = assessed_version(tier_ratings=ratings(degradation=(4, 4)), accountable_owner=owner,  # 2 approvals
                               team__members=[sam])

    login(client, sam)
    page = client.get(reverse("reviews:version", args=[version.pk]))
    assert b"Start a review" in page.content and b"needs a valid responsible-AI approval" in page.content
    started = client.post(reverse("reviews:start", args=[version.pk]))
    review = Review.objects.get(version=version)
    assert started.status_code == 302 and started["Location"] == review.get_absolute_url()
    # Eleven items; "owner acknowledged" is answered by the owner's acknowledgement, not by the submitter.
    assert review.required_approvals == 2 and review.answers.count() == 10

    item = review.answers.first().item_id
    data = answers_post(review, submit=True,
                        **{f"file_{item}": SimpleUploadedFile("fairness.pdf", b"%PDF selection rates")})
    response = client.post(reverse("reviews:answers", args=[review.pk]), data)
    review.refresh_from_db()
    assert response.status_code == 302 and review.state == "submitted" and review.submitted_by == sam
    assert len(review.answers.get(item_id=item).evidence_sha256) == 64

    page = client.get(review.get_absolute_url())
    assert FOUR_EYES.encode() in page.content and b'action="/reviews/%d/decide/"' % review.pk not in page.content
    refused = decide(client, review)
    assert refused.status_code == 403 and FOUR_EYES in refused.content.decode()
    assert not ReviewDecision.objects.exists()

    login(client, reviewers[1])
    page = client.get(review.get_absolute_url())
    assert b"0 of 2 approvals" in page.content and review.content_hash.encode() in page.content
    assert decide(client, review, comment="evidence is convincing").status_code == 302
    review.refresh_from_db()
    assert review.state == "in_review"
    with pytest.raises(ConflictError, match="cannot go to production: It needs a valid responsible-AI approval"):
        inventory.version_transition(actor=sam, version=version, to_stage="production")

    login(client, reviewers[2])
    assert decide(client, review).status_code == 302
    review.refresh_from_db()
    assert review.state == "approved" and review.decisions.count() == 2

    login(client, owner)
    client.post(reverse("reviews:acknowledge", args=[review.pk]), {"confirm": "on"})
    version = inventory.version_transition(actor=sam, version=version, to_stage="production", reason="approved")
    assert version.stage == Stage.PRODUCTION

    report = client.get(reverse("reviews:report", args=[review.pk]), {"format": "md"}).content.decode()
    for text in ("rev1", "rev2", "evidence is convincing", review.content_hash, "fairness.pdf", "Approved",
                 "2 of 2 required", "review.submitted", "review.approve", "version.stage\\_changed",
                 f"Acknowledged by {owner.get_full_name()} (erin)", "Policy when the round opened:** High policy"):
        assert text in report, text


# --- Deciding -----------------------------------------------------------------------------------

def test_it_shows_reviewers_the_decision_form_with_the_hash_they_see(client, scientist, reviewers):
    review = submitted_review(submitter=scientist)
    page = login(client, reviewers[0]).get(review.get_absolute_url())
    assert page.status_code == 200
    assert f'name="seen_hash" value="{review.content_hash}"'.encode() in page.content


def test_it_refuses_a_stale_form_with_409(client, scientist, reviewers):
    review = submitted_review(submitter=scientist)
    response = decide(login(client, reviewers[0]), review, seen_hash="0" * 64)
    assert response.status_code == 409 and b"has changed since it was submitted" in response.content
    assert not ReviewDecision.objects.exists()


def test_it_asks_for_a_comment_when_rejecting(client, scientist, reviewers):
    review = submitted_review(submitter=scientist)
    response = decide(login(client, reviewers[0]), review, decision="reject")
    assert response.status_code == 400 and b"Say what must change" in response.content
    review.refresh_from_db()
    assert review.state == "submitted"


def test_it_refuses_a_second_decision_by_the_same_reviewer(client, scientist, reviewers):
    review = submitted_review(submitter=scientist, tier_ratings=ratings(degradation=(4, 4)))
    client = login(client, reviewers[0])
    assert decide(client, review).status_code == 302
    again = decide(client, review)
    assert again.status_code == 409 and b"already decided" in again.content
    assert ReviewDecision.objects.count() == 1


def test_it_refuses_a_decision_on_a_draft_with_409(client, scientist, reviewers):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    response = decide(login(client, reviewers[0]), review, seen_hash="")
    assert response.status_code == 409 and b"Cannot approve a review that is draft" in response.content


def test_data_scientists_cannot_post_decisions(client_as, scientist):
    review = submitted_review(submitter=scientist)
    assert decide(client_as("data_scientist"), review).status_code == 403


# --- Answering ----------------------------------------------------------------------------------

def fail_the_third_answer(monkeypatch) -> list:
    """Make the third answer a form saves fail; returns the item ids the service was called with."""
    real, calls = services.review_answer, []

    def failing_third(**kwargs):
        calls.append(kwargs["item_id"])
        if len(calls) == 3:
            raise DomainError("Evidence store unavailable.", field="evidence")
        return real(**kwargs)

    monkeypatch.setattr(services, "review_answer", failing_third)
    return calls


def test_it_saves_answers_all_or_nothing(client, scientist, monkeypatch):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    fail_the_third_answer(monkeypatch)
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]), answers_post(review))
    assert response.status_code == 400 and b"Evidence store unavailable." in response.content
    assert not ChecklistAnswer.objects.filter(review=review).exclude(answer="").exists()
    assert not AuditEvent.objects.filter(action="review.answered").exists()


def test_evidence_files_of_answers_rolled_back_are_deleted(client, scientist, monkeypatch, tmp_path):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    first = ChecklistAnswer.objects.filter(review=review).first().item_id  # the order the form saves in
    calls = fail_the_third_answer(monkeypatch)
    upload = SimpleUploadedFile("fairness.pdf", b"%PDF fairness report")
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]),
                                             answers_post(review, **{f"file_{first}": upload}))

    assert response.status_code == 400 and first in calls[:2]
    assert not ChecklistAnswer.objects.filter(review=review).exclude(evidence_file="").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_evidence_files_of_answers_saved_are_kept(client, scientist, tmp_path):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    first = ChecklistAnswer.objects.filter(review=review).first().item_id
    upload = SimpleUploadedFile("fairness.pdf", b"%PDF fairness report")
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]),
                                             answers_post(review, **{f"file_{first}": upload}))

    assert response.status_code == 302
    stored = ChecklistAnswer.objects.get(review=review, item_id=first).evidence_file.name
    assert (tmp_path / stored).read_bytes() == b"%PDF fairness report"


def test_it_keeps_saved_answers_when_submitting_fails(client, scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    first = review.answers.first().item_id
    data = {f"answer_{first}": "no", f"evidence_{first}": "not yet", "submit": "1"}
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]), data)
    assert response.status_code == 400 and b"Answer every checklist item before submitting" in response.content
    assert review.answers.get(item_id=first).answer == "no"
    review.refresh_from_db()
    assert review.state == "draft"


def test_it_names_the_bad_link_beside_its_item(client, scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    item = review.answers.first().item_id
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]),
                                             answers_post(review, **{f"link_{item}": "not a link"}))
    assert response.status_code == 400 and "Enter a valid URL" in response.content.decode()
    assert not review.answers.exclude(answer="").exists()


def test_it_refuses_answers_to_a_submitted_review_with_409(client, scientist):
    review = submitted_review(submitter=scientist)
    response = login(client, scientist).post(reverse("reviews:answers", args=[review.pk]),
                                             answers_post(review, **{f"evidence_{review.answers.first().item_id}":
                                                                     "changed"}))
    assert response.status_code == 409 and b"Answers are frozen" in response.content


def test_it_serves_evidence_files_as_downloads_to_logged_in_users_only(client, client_as, scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    answer = review.answers.first()
    services.review_answer(actor=scientist, review=review, item_id=answer.item_id, answer="yes",
                           evidence_file=SimpleUploadedFile("report.html", b"<script>alert(1)</script>"))
    url = reverse("reviews:evidence", args=[review.pk, answer.pk])
    assert client.get(url).status_code == 302
    response = client_as("executive").get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;") and b"".join(response.streaming_content)
    other = ChecklistAnswer.objects.filter(review=review).exclude(pk=answer.pk).first()
    assert client.get(reverse("reviews:evidence", args=[review.pk, other.pk])).status_code == 404


# --- Starting, assigning, acknowledging, withdrawing ----------------------------------------

def test_it_shows_why_a_review_cannot_start(client, scientist):
    version = assessed_version(team__members=[scientist])
    services.review_start(actor=scientist, version=version)
    response = login(client, scientist).post(reverse("reviews:start", args=[version.pk]))
    assert response.status_code == 409 and b"already has an open review" in response.content
    assert Review.objects.filter(version=version).count() == 1


def test_the_version_page_lists_rounds_and_offers_no_start_to_reviewers(client_as, scientist):
    review = submitted_review(submitter=scientist)
    services.review_withdraw(actor=scientist, review=review, reason="new data")
    page = client_as("reviewer").get(reverse("reviews:version", args=[review.version.pk]))
    assert page.status_code == 200 and b"Round 1" in page.content and b"Withdrawn" in page.content
    assert b"Start a review" not in page.content


def test_it_offers_only_reviewers_without_a_conflict(client, scientist, reviewers, make_user):
    review = submitted_review(submitter=scientist)
    owner = review.version.model.accountable_owner
    owner.groups.add(*reviewers[0].groups.all())
    page = login(client, reviewers[0]).get(review.get_absolute_url())
    options = page.context["assign_form"].fields["reviewer"].queryset
    assert owner not in options and set(options) == set(reviewers)
    response = client.post(reverse("reviews:assign", args=[review.pk]), {"reviewer": owner.username})
    assert response.status_code == 400 and b"four-eyes rule" in response.content
    assert client.post(reverse("reviews:assign", args=[review.pk]), {"reviewer": "rev1"}).status_code == 302
    assert list(review.assignees.all()) == [reviewers[1]]


def test_only_the_accountable_owner_acknowledges_on_screen(client, scientist, make_user):
    review = submitted_review(submitter=scientist, accountable_owner=make_user("executive"))
    refused = login(client, scientist).post(reverse("reviews:acknowledge", args=[review.pk]), {"confirm": "on"})
    assert refused.status_code == 403 and b"Only the model&#x27;s accountable owner" in refused.content
    owner = review.version.model.accountable_owner
    page = login(client, owner).get(review.get_absolute_url())
    assert b"I acknowledge responsibility" in page.content
    assert client.post(reverse("reviews:acknowledge", args=[review.pk]), {"confirm": "on"}).status_code == 302
    review.refresh_from_db()
    assert review.owner_acknowledged_by == owner


def test_withdrawing_needs_a_reason_and_the_opener(client, client_as, scientist):
    review = submitted_review(submitter=scientist)
    assert client_as("data_scientist").post(reverse("reviews:withdraw", args=[review.pk]),
                                            {"reason": "mine now"}).status_code == 403
    client = login(client, scientist)
    assert client.post(reverse("reviews:withdraw", args=[review.pk]), {"reason": ""}).status_code == 400
    assert client.post(reverse("reviews:withdraw", args=[review.pk]), {"reason": "new data"}).status_code == 302
    review.refresh_from_db()
    assert review.state == "withdrawn"
    assert AuditEvent.objects.get(action="review.withdrawn").reason == "new data"


# --- Work queues ------------------------------------------------------------------------------

def test_reviewers_see_what_is_assigned_waiting_and_decided(client, scientist, reviewers, make_user):
    me = reviewers[0]
    waiting = submitted_review(submitter=scientist)
    assigned = submitted_review(submitter=scientist)
    services.review_assign(actor=scientist, review=assigned, reviewer=me)
    decided = submitted_review(submitter=scientist)
    services.review_decide(actor=me, review=decided, decision="approve")
    mine = submitted_review(submitter=scientist, accountable_owner=me)  # conflicted: I own the model
    page = login(client, me).get(reverse("reviews:index"))
    queues = {q.key: q for q in page.context["queues"]}
    assert list(queues["assigned"].rows) == [assigned]
    assert set(queues["waiting"].rows) == {waiting, assigned}
    assert mine not in queues["waiting"].rows and decided not in queues["waiting"].rows
    assert [d.review for d in queues["decided"].rows] == [decided]
    assert "mine" not in queues


def test_the_waiting_queue_leaves_out_every_conflict_the_service_refuses(client, scientist, reviewers):
    me = reviewers[0]
    editor_case = submitted_review(submitter=scientist)
    me.groups.add(*scientist.groups.all())
    editor_case.version.model.team.members.add(me)
    inventory.version_update(actor=me, version=editor_case.version, description="tweak")
    tech_case = submitted_review(submitter=scientist)
    tech_case.version.model.technical_owners.add(me)
    author_case = submitted_review(submitter=scientist, version=ModelVersionFactory(
        model=assessed_version(team__members=[scientist]).model, created_by=me))
    page = login(client, me).get(reverse("reviews:index"))
    waiting = list(page.context["queues"][1].rows)
    assert waiting == []
    for review in (editor_case, tech_case, author_case):
        assert me.pk in services.conflicted_users(review)


def test_data_scientists_see_their_reviews_and_what_blocks_their_versions(client, scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    blocked = ModelVersionFactory(created_by=scientist)
    ModelVersionFactory(created_by=scientist, stage=Stage.RETIRED)
    page = login(client, scientist).get(reverse("reviews:index"))
    queues = {q.key: q for q in page.context["queues"]}
    assert list(queues["mine"].rows) == [review]
    rows = queues["blocks"].rows
    assert [r["version"] for r in rows] == [blocked]
    assert set(rows[0]["problems"]) == {"It needs a valid responsible-AI approval (a review approved by enough "
                                        "distinct reviewers).",
                                        "It needs a risk assessment. Until it has one it is treated as critical."}
    assert "assigned" not in queues and b"It needs a risk assessment." in page.content


def test_executives_see_every_open_review_read_only(client_as, scientist):
    open_review = submitted_review(submitter=scientist)
    closed = submitted_review(submitter=scientist)
    services.review_withdraw(actor=scientist, review=closed, reason="x")
    page = client_as("executive").get(reverse("reviews:index"))
    (queue,) = page.context["queues"]
    assert list(queue.rows) == [open_review]
    detail = client_as("executive").get(open_review.get_absolute_url())
    assert b"<form" not in detail.content.split(b"</header>", 1)[1].replace(b'class="inline-form"', b"")


def test_the_queues_filter_by_model_name_and_state(client_as, scientist):
    wanted = submitted_review(submitter=scientist, name="Credit scoring")
    submitted_review(submitter=scientist, name="Churn")
    client = client_as("executive")
    page = client.get(reverse("reviews:index"), {"q": "credit"})
    assert list(page.context["queues"][0].rows) == [wanted]
    page = client.get(reverse("reviews:index"), {"state": "draft"})
    assert list(page.context["queues"][0].rows) == [] and b"Nothing here matches the filters" in page.content


def test_each_queue_pages_on_its_own(client_as, scientist):
    for _ in range(23):
        submitted_review(submitter=scientist)
    page = client_as("executive").get(reverse("reviews:index"), {"open_page": 2})
    queue = page.context["queues"][0]
    assert queue.page.number == 2 and len(queue.rows) == 3
    assert 'href="?open_page=1#open"' in page.content.decode()


def test_the_queues_show_empty_states(client_as, scientist):
    page = client_as("reviewer").get(reverse("reviews:index"))
    assert b"Nothing here yet" in page.content and b"No open review is assigned to you." in page.content
    assert b"You have not decided on any review yet." in page.content
    services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    page = client_as("data_scientist").get(reverse("reviews:index"))
    assert b"Nothing here yet" in page.content  # someone else's draft is nobody else's work yet


@pytest.mark.parametrize("count", [2, 12])
def test_the_reviewer_queues_cost_a_constant_number_of_queries(client, scientist, reviewers, count,
                                                               django_assert_max_num_queries):
    for _ in range(count):
        review = submitted_review(submitter=scientist)
        services.review_assign(actor=scientist, review=review, reviewer=reviewers[0])
    client = login(client, reviewers[0])
    with django_assert_max_num_queries(12):
        page = client.get(reverse("reviews:index"))
    assert len(page.context["queues"][0].rows) == count


@pytest.mark.parametrize("tier_ratings", [ratings(), ratings(degradation=(4, 4))], ids=["1 checklist", "2 checklists"])
def test_the_review_page_costs_a_constant_number_of_queries(client, scientist, reviewers, tier_ratings,
                                                            django_assert_max_num_queries):
    review = submitted_review(submitter=scientist, tier_ratings=tier_ratings)
    services.review_decide(actor=reviewers[1], review=review, decision="approve")
    client = login(client, reviewers[0])
    # 20 for the round itself; the evidence beside the checklist adds the current assessment, the latest evaluation,
    # open alerts, the deployments, the owner item, the verdicts and the attached generated documents
    # (tests/reviews/test_evidence.py pins it full).
    with django_assert_max_num_queries(27):
        assert client.get(review.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("count", [3, 25])
def test_the_blockers_list_is_paged_so_its_gate_checks_stay_bounded(client, scientist, count,
                                                                    django_assert_max_num_queries):
    for _ in range(count):
        ModelVersionFactory(created_by=scientist)
    client = login(client, scientist)
    with django_assert_max_num_queries(45):
        page = client.get(reverse("reviews:index"))
    blocks = page.context["queues"][1]
    assert blocks.page.paginator.count == count and len(blocks.rows) == min(count, 10)


def test_unknown_reviews_are_404(client_as):
    assert client_as("reviewer").get(reverse("reviews:detail", args=[999999])).status_code == 404


# --- Admin: checklist items are versioned, reviews are read-only ---------------------------------

def test_editing_a_checklist_item_in_the_admin_makes_a_new_version(client_as):
    from apps.reviews.models import ChecklistItem

    item = ChecklistItem.objects.get(key="bias_checked", active=True)
    client = client_as("admin", username="ada")
    url = reverse("admin:reviews_checklistitem_change", args=[item.pk])
    response = client.post(url, {"text": "Bias was checked per protected group.", "guidance": item.guidance,
                                 "order": item.order})
    assert response.status_code == 302
    item.refresh_from_db()
    revised = ChecklistItem.objects.get(key="bias_checked", active=True)
    assert not item.active and item.text.startswith("Data and model") and revised.version == 2
    assert revised.text == "Bias was checked per protected group."
    event = AuditEvent.objects.get(action="checklist_item.revised")
    assert event.actor_username == "ada" and event.changes["version"] == [1, 2]
    assert client.post(url, {"text": "again", "guidance": "", "order": 0}).status_code == 403
    unchanged = client.post(reverse("admin:reviews_checklistitem_change", args=[revised.pk]),
                            {"text": revised.text, "guidance": revised.guidance, "order": revised.order})
    assert unchanged.status_code == 200 and b"Nothing changed" in unchanged.content
    added = client.post(reverse("admin:reviews_checklistitem_add"),
                        {"checklist": "accountability", "key": "incident_contact",
                         "text": "An incident contact is named.", "guidance": "", "order": 9})
    assert added.status_code == 302 and AuditEvent.objects.filter(action="checklist_item.created").exists()
    duplicate = client.post(reverse("admin:reviews_checklistitem_add"),
                            {"checklist": "accountability", "key": "incident_contact", "text": "x", "order": 9})
    assert duplicate.status_code == 200 and ChecklistItem.objects.filter(key="incident_contact").count() == 1


def test_new_reviews_ask_the_revised_wording_and_old_answers_keep_theirs(scientist, make_user):
    from apps.reviews.admin import checklist_item_revise
    from apps.reviews.models import ChecklistItem

    old_review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    item = ChecklistItem.objects.get(key="explainable", active=True)
    revised = checklist_item_revise(actor=make_user("admin"), item=item, text="Explanations exist.",
                                    guidance="", order=item.order)
    new_review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    assert old_review.answers.filter(item=item).exists() and not old_review.answers.filter(item=revised).exists()
    assert new_review.answers.filter(item=revised).exists() and not new_review.answers.filter(item=item).exists()


def test_reviews_and_decisions_are_read_only_in_the_admin(client_as, scientist, reviewers):
    review = submitted_review(submitter=scientist)
    services.review_decide(actor=reviewers[0], review=review, decision="approve")
    client = client_as("admin")
    for name, pk in (("review", review.pk), ("reviewdecision", review.decisions.get().pk)):
        page = client.get(reverse(f"admin:reviews_{name}_change", args=[pk]))
        assert page.status_code == 200 and b'type="submit"' not in page.content.split(b'id="content"', 1)[1]
        assert client.post(reverse(f"admin:reviews_{name}_change", args=[pk]), {"state": "approved"}).status_code \
            == 403
    assert client.get(reverse("admin:reviews_review_add")).status_code == 403

import pytest
from django.urls import reverse

from apps.inventory import services as inventory
from apps.reviews import report, selectors, services
from tests.reviews.helpers import assessed_version, submitted_review


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def approved(scientist, make_user):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    for n, answer in enumerate(review.answers.all()):
        services.review_answer(actor=scientist, review=review, item_id=answer.item_id, answer="yes",
                               evidence="rates | per group\nsecond line" if n == 0 else "ok")
    review = services.review_submit(actor=scientist, review=review)
    services.review_decide(actor=make_user("reviewer", username="rita"), review=review, decision="approve",
                           comment="checked the *fairness* report")
    return review


def test_it_downloads_markdown_with_every_part_of_the_sign_off(client_as, approved):
    response = client_as("executive").get(reverse("reviews:report", args=[approved.pk]), {"format": "md"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"] == (
        f'attachment; filename="review-{approved.version.model.slug}-{approved.version.version}-round-1.md"')
    text = response.content.decode()
    for heading in ("## Model and version", "## Tier and policy", "## What was reviewed", "## Checklist answers",
                    "## Decisions", "## Acknowledgement of responsibility", "## Production gate overrides",
                    "## Audit trail"):
        assert heading in text
    assert approved.content_hash in text and "**Approvals:** 1 of 1 required" in text
    assert "checked the \\*fairness\\* report" in text and "rita" in text
    assert "**Still matches the version now:** yes" in text


def test_it_keeps_user_text_inside_its_table_cell(approved):
    text = report.to_markdown(report.build(selectors.review_detail(approved.pk)))
    row = next(line for line in text.splitlines() if "rates" in line)
    assert "rates \\| per group second line" in row and row.count(" | ") == 6


def test_it_lists_gate_overrides_and_the_versions_audit_events(approved, scientist, make_user):
    version = approved.version
    inventory.version_update(actor=scientist, version=version, artifact_sha256="b" * 64, reason="retrained")
    admin = make_user("admin", username="ada")
    inventory.version_transition(actor=admin, version=version, to_stage="production", override_reason="outage fix")
    data = report.build(selectors.review_detail(approved.pk))
    assert data["state"] == "Expired" and data["hash_still_matches"] is False
    assert data["overrides"][0]["reason"] == "outage fix" and "approval" in data["overrides"][0]["problems"][0]
    actions = [e["action"] for e in data["audit"]]
    # The version's governance state changes are part of its history (the approval voided, then the override).
    own = [a for a in actions if a != "governance.changed"]
    assert own[0] == "review.started" and {"version.updated", "review.voided",
                                           "production_gate.overridden"} <= set(own)
    assert "governance.changed" in actions
    assert [e["seq"] for e in data["audit"]] == sorted(e["seq"] for e in data["audit"])
    assert "artifact_sha256: " + "a" * 64 + " → " + "b" * 64 in next(
        e["changes"] for e in data["audit"] if e["action"] == "version.updated")


def test_it_records_what_each_reviewer_confirmed_and_disputed(scientist, make_user):
    review = submitted_review(submitter=scientist)
    items = {a.item.key: a.item_id for a in review.answers.select_related("item")}
    services.review_decide(actor=make_user("reviewer", username="rex"), review=review, decision="request_changes",
                           comment="see items", verdicts={items["bias_checked"]: ("dispute", "no groups | shown"),
                                                          items["explainable"]: ("confirm", "")})
    text = report.to_markdown(report.build(selectors.review_detail(review.pk)))
    assert "confirmed 1 item; disputed bias\\_checked (no groups \\| shown)" in text


def test_it_prints_as_html(client_as, approved):
    page = client_as("reviewer").get(reverse("reviews:report", args=[approved.pk]))
    assert page.status_code == 200 and b"Responsible-AI sign-off" in page.content
    assert approved.content_hash.encode() in page.content and b"checked the *fairness* report" in page.content


def test_it_refuses_unknown_formats(client_as, approved):
    assert client_as("reviewer").get(reverse("reviews:report", args=[approved.pk]),
                                     {"format": "pdf"}).status_code == 400


def test_a_draft_report_says_what_is_missing(scientist):
    review = services.review_start(actor=scientist, version=assessed_version(team__members=[scientist]))
    text = report.to_markdown(report.build(selectors.review_detail(review.pk)))
    assert "not submitted yet" in text and "No decision yet." in text
    assert "The accountable owner has not acknowledged this round." in text


def test_the_report_costs_a_constant_number_of_queries(client_as, scientist, make_user,
                                                       django_assert_max_num_queries):
    review = submitted_review(submitter=scientist)
    services.review_decide(actor=make_user("reviewer"), review=review, decision="approve")
    client = client_as("executive")
    with django_assert_max_num_queries(18):
        assert client.get(reverse("reviews:report", args=[review.pk]), {"format": "md"}).status_code == 200

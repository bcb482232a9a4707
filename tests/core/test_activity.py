"""Activity feeds speak in sentences: every audit action the code records has one, and no feed shows a code."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from apps.core import activity
from apps.core.models import AUDIT_CHECKPOINTED, AUDIT_VERIFIED
from apps.core.services import audit_record
from tests.factories import UserFactory

APPS = Path(__file__).resolve().parents[2] / "apps"
LITERAL = re.compile(r'action\s*=\s*"([a-z_]+\.[a-z_]+)"')
FORMATTED = re.compile(r'action\s*=\s*f"([^"]+)"')
# Each action written with an f-string, and the actions it can produce.
EXPANSIONS = {
    "alert.raised_{finding.severity}": {"alert.raised_warning", "alert.raised_breach"},
    "alert.{status}": {"alert.acknowledged", "alert.resolved"},
    "review.{decision}": {"review.approve", "review.reject", "review.request_changes"},
    "use_case.{new_state}": {"use_case.approved", "use_case.declined"},
    # The Django admin's, for any model: told by the fallback.
    "{obj._meta.model_name}.{verb}": set(),
    "{model._meta.model_name}.admin_action": set(),
}


def _source() -> str:
    return "\n".join(path.read_text() for path in APPS.rglob("*.py"))


def test_every_action_the_code_records_has_a_sentence():
    source = _source()
    formatted = set(FORMATTED.findall(source))
    assert formatted == set(EXPANSIONS), "a new f-string audit action: list what it produces in EXPANSIONS"
    recorded = set(LITERAL.findall(source)) | {AUDIT_CHECKPOINTED, AUDIT_VERIFIED}
    recorded |= set().union(*EXPANSIONS.values())
    assert len(recorded) > 50
    assert sorted(recorded - set(activity.SENTENCES)) == []


def test_every_sentence_names_no_code_and_reads_as_a_sentence():
    for action in activity.SENTENCES:
        text = activity.sentence(action=action, actor="Dana Reviewer", object_repr="AML transaction monitoring 2.0.0")
        assert text[0].isupper() and text.endswith("."), action
        assert action not in text and "{" not in text, (action, text)


def test_a_decision_reads_like_a_person_said_it():
    assert activity.sentence(action="review.approve", actor="Dana",
                             object_repr="Review of AML transaction monitoring 2.0.0 (round 1)") == (
        "Dana approved the review of AML transaction monitoring 2.0.0 (round 1).")
    assert activity.sentence(action="evaluation.computed", actor="",
                             object_repr="Production (live predictions with outcomes) evaluation #4 of Churn 1.0") == (
        "The portal finished computing the production (live predictions with outcomes) evaluation #4 of Churn 1.0.")


def test_an_action_without_a_sentence_still_reads_without_its_code():
    assert activity.sentence(action="riskmatrix.changed", actor="admin", object_repr="Risk matrix v2") == (
        "Admin changed the riskmatrix risk matrix v2.")
    text = activity.sentence(action="something_new.happened", actor="ada", object_repr="X")
    assert "something_new.happened" not in text and "something new happened" in text


@pytest.mark.django_db
def test_the_home_feed_and_an_object_history_tell_events_as_sentences(client_as):
    dana = UserFactory(username="dana", first_name="Dana", last_name="Reviewer")
    audit_record(actor=dana, action="review.approve", object_type="reviews.review", object_id="1",
                 object_repr="Review of AML transaction monitoring 2.0.0 (round 1)")
    audit_record(actor=None, action="evaluation.computed", object_type="monitoring.evaluation", object_id="2",
                 object_repr="Validation (offline test set) evaluation #2 of Churn 1.0")

    page = client_as("executive").get(reverse("core:home")).content.decode()

    assert "Dana Reviewer approved the review of AML transaction monitoring 2.0.0 (round 1)." in page
    assert "The portal finished computing the validation (offline test set) evaluation #2 of Churn 1.0." in page
    feed = page[page.index('id="recent-title"'):]
    assert "evaluation.computed" not in feed and "review.approve" not in feed

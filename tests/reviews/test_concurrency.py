"""Decisions racing each other: the review row lock and the one-decision-per-reviewer constraint must hold.

The parallel tests need a server that runs transactions side by side (PostgreSQL; CI runs the suite on it).
SQLite serialises every write transaction, so there they would prove nothing; the sequential double click
below runs everywhere.
"""

import importlib
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.urls import reverse

from apps.core.errors import ConflictError, DomainError
from apps.core.models import AuditEvent
from apps.reviews import services
from apps.reviews import transitions as t
from apps.reviews.models import Review, ReviewDecision
from apps.risk import services as risk_services
from tests.reviews.helpers import submitted_review
from tests.risk.factories import ratings

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                     reason="needs concurrent transactions (PostgreSQL); SQLite serialises writers")
REVIEWERS = 50


def race(jobs) -> list:
    """Run every job in its own thread (own DB connection), all released at once; return each outcome."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            outcomes[index] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a decision hung (deadlock?)"
    return outcomes


@pytest.fixture
def seeded(transactional_db):
    """The data migrations' rows again: an earlier transactional test's flush removed them (post_migrate only
    brings back the groups)."""
    from django.apps import apps

    from apps.core.roles import sync_role_permissions

    for module in ("apps.risk.migrations.0002_defaults", "apps.reviews.migrations.0002_checklist_items"):
        importlib.import_module(module).seed(apps, None)
    sync_role_permissions()


def high_tier_review(make_user, *, required_approvals: int = 2):
    """A submitted review of a high-tier version; a stricter high policy asks for more approvals."""
    if required_approvals != 2:
        risk_services.policy_publish(
            actor=make_user("admin"), tier="high", note="stricter for the race", required_approvals=required_approvals,
            checklists=["intentionality"], monitoring_cadence="weekly", metric_thresholds={}, reassessment_days=120)
    scientist = make_user("data_scientist", username="sam")
    review = submitted_review(submitter=scientist, tier_ratings=ratings(degradation=(4, 4)))
    assert review.required_approvals == required_approvals
    return review


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reject_every", [0, 5], ids=["all approve", "every fifth rejects"])
def test_fifty_reviewers_deciding_at_once_leave_one_consistent_outcome(seeded, make_user, reject_every):
    from django.test import Client

    review = high_tier_review(make_user, required_approvals=5)
    clients = []
    for n in range(REVIEWERS):
        client = Client()
        client.force_login(make_user("reviewer", username=f"rev{n:02d}"))
        clients.append(client)
    url = reverse("reviews:decide", args=[review.pk])

    def post(client, n):
        rejects = reject_every and n % reject_every == reject_every - 1
        data = {"decision": "reject" if rejects else "approve", "comment": "not lawful" if rejects else "",
                "seen_hash": review.content_hash}
        return lambda: client.post(url, data).status_code

    outcomes = race([post(client, n) for n, client in enumerate(clients)])

    leaked = [o for o in outcomes if isinstance(o, Exception)]
    assert leaked == [], f"errors escaped the service: {leaked[:3]}"
    statuses = Counter(outcomes)
    assert set(statuses) <= {302, 409}, statuses  # recorded, or refused because the round had ended
    review.refresh_from_db()
    decisions = list(ReviewDecision.objects.filter(review=review).order_by("created_at", "pk"))
    assert statuses[302] == len(decisions) >= 1
    approvers = [d.reviewer_id for d in decisions if d.decision == "approve"]
    assert len(approvers) == len(set(approvers))
    if review.state == t.APPROVED:
        assert len(approvers) == len(decisions) == review.required_approvals
    else:
        assert review.state == t.REJECTED and reject_every
        assert decisions[-1].decision == "reject" and len(approvers) == len(decisions) - 1 < review.required_approvals
    if not reject_every:
        assert review.state == t.APPROVED and statuses[409] == REVIEWERS - review.required_approvals
    # Exactly one decision ended the round, and the audit trail says so once.
    ending = [e for e in AuditEvent.objects.filter(object_type="reviews.review", object_id=str(review.pk),
                                                   action__in=["review.approve", "review.reject"])
              if e.changes["state"][1] in t.FINAL_STATES]
    assert len(ending) == 1 and review.decided_at is not None


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_double_click_in_parallel_records_one_decision(seeded, make_user):
    review = high_tier_review(make_user)
    reviewer = make_user("reviewer", username="rita")

    def click():
        return services.review_decide(actor=reviewer, review=Review.objects.get(pk=review.pk), decision="approve",
                                      seen_hash=review.content_hash)

    outcomes = race([click] * 10)

    assert all(isinstance(o, (ReviewDecision, DomainError)) for o in outcomes), outcomes
    assert sum(isinstance(o, ReviewDecision) for o in outcomes) == 1
    assert all("already decided" in o.message for o in outcomes if isinstance(o, DomainError))
    assert ReviewDecision.objects.filter(review=review, reviewer=reviewer).count() == 1
    review.refresh_from_db()
    assert review.state == t.IN_REVIEW  # one approval of the two required


@pytest.mark.django_db
def test_a_double_click_records_one_decision(client, make_user):
    review = high_tier_review(make_user)
    client.force_login(make_user("reviewer", username="rita"))
    url = reverse("reviews:decide", args=[review.pk])
    data = {"decision": "approve", "seen_hash": review.content_hash}
    first, second = client.post(url, data), client.post(url, data)
    assert first.status_code == 302
    assert second.status_code == 409 and b"You already decided on this review round." in second.content
    assert ReviewDecision.objects.filter(review=review).count() == 1
    with pytest.raises(ConflictError, match="already decided"):
        services.review_decide(actor=ReviewDecision.objects.get().reviewer, review=review, decision="approve")

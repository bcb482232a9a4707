from datetime import timedelta

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.notifications.models import Notification
from apps.notifications.services import DIGEST_WINDOW, deliver_pending_emails, notify


def test_a_notification_is_shown_in_app_and_emailed_once(client_as, make_user, django_capture_on_commit_callbacks):
    user = make_user("reviewer", username="rita")
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=user, subject="Review assigned", body="Please look", url="/reviews/")
    assert [m.to for m in mail.outbox] == [["rita@example.org"]]
    assert deliver_pending_emails() == 0  # already claimed and sent
    client = client_as(None)
    client.force_login(user)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "Review assigned" in page and 'aria-label="1 unread"' in page


def test_marking_read_only_touches_my_notifications(client_as, make_user):
    me, other = make_user("reviewer"), make_user("reviewer")
    mine = notify(recipient=me, subject="mine")
    theirs = notify(recipient=other, subject="theirs")
    client = client_as(None)
    client.force_login(me)
    client.post(reverse("notifications:mark-read"), {"id": theirs.pk})
    client.post(reverse("notifications:mark-read"), {"id": mine.pk})
    assert Notification.objects.get(pk=mine.pk).read_at is not None
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_inactive_people_are_not_notified(make_user):
    assert notify(recipient=make_user(is_active=False), subject="x") is None


def test_a_missing_email_address_is_recorded_not_lost(make_user):
    user = make_user("executive", email="")
    notify(recipient=user, subject="x")
    deliver_pending_emails()
    assert Notification.objects.get().email_error == "recipient has no email address"


def test_one_transaction_queues_one_delivery_however_many_it_notifies(make_user, django_capture_on_commit_callbacks):
    from django.db import transaction

    from apps.notifications.services import notify

    people = [make_user(username=f"owner{i}") for i in range(3)]
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for person in people:
            notify(recipient=person, subject="Model X is now suspended")
    assert len(callbacks) == 1
    assert sum(p.notifications.count() for p in people) == 3


# --- Digests ------------------------------------------------------------------------------------------------------

def test_repeats_of_one_kind_about_one_page_are_digested_into_one_row(make_user, django_capture_on_commit_callbacks):
    user = make_user("data_scientist", username="dana")
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(recipient=user, subject="Breach on Churn: psi", body="PSI 0.21", url="/monitoring/alerts/1/",
                       kind="alert", action="Acknowledge the alert")
    with django_capture_on_commit_callbacks(execute=True):
        for psi in ("0.25", "0.29"):
            again = notify(recipient=user, subject="Breach on Churn: psi", body=f"PSI {psi}",
                           url="/monitoring/alerts/1/", kind="alert", action="Acknowledge the alert")
    row = Notification.objects.get()
    assert again.pk == first.pk and row.occurrences == 3 and row.body == "PSI 0.29" and row.last_at > row.created_at
    assert len(mail.outbox) == 1  # the repeats do not email again


def test_a_different_page_kind_or_a_read_row_starts_a_new_one(make_user):
    user = make_user("data_scientist")
    first = notify(recipient=user, subject="a", url="/monitoring/alerts/1/", kind="alert")
    notify(recipient=user, subject="b", url="/monitoring/alerts/2/", kind="alert")
    notify(recipient=user, subject="c", url="/monitoring/alerts/1/", kind="review_decided")
    notify(recipient=user, subject="no kind", url="/monitoring/alerts/1/")
    Notification.objects.filter(pk=first.pk).update(read_at=timezone.now())
    notify(recipient=user, subject="after reading", url="/monitoring/alerts/1/", kind="alert")
    assert Notification.objects.count() == 5 and not Notification.objects.filter(occurrences__gt=1).exists()


def test_a_repeat_after_the_window_starts_a_new_row(make_user):
    user = make_user("data_scientist")
    first = notify(recipient=user, subject="a", url="/x/", kind="alert")
    Notification.objects.filter(pk=first.pk).update(last_at=timezone.now() - DIGEST_WINDOW - timedelta(minutes=1))
    assert notify(recipient=user, subject="a", url="/x/", kind="alert").pk != first.pk


def test_the_list_shows_the_count_and_what_to_do(client, make_user):
    user = make_user("reviewer", username="rita")
    for _ in range(3):
        notify(recipient=user, subject="Review requested: Churn 2.0", url="/reviews/7/", kind="review_requested",
               action="Check the evidence and decide")
    client.force_login(user)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "×3 since" in page and '<a href="/reviews/7/">Check the evidence and decide ›</a>' in page
    assert 'aria-label="1 unread"' in page


def test_the_email_says_what_to_do(make_user, django_capture_on_commit_callbacks, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=make_user("reviewer"), subject="Review requested", url="/reviews/7/",
               kind="review_requested", action="Check the evidence and decide")
    assert "Check the evidence and decide: https://portal.example.org/reviews/7/" in mail.outbox[0].body

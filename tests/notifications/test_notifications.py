from django.core import mail
from django.urls import reverse

from apps.notifications.models import Notification
from apps.notifications.services import deliver_pending_emails, notify


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

"""Every state change made through the Django admin writes an audit event (issue 13, item 16)."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.compliance.admin import ControlAdmin
from apps.core.admin import AuditedAdminMixin
from apps.core.models import AuditEvent, ExternalIdentity
from apps.inventory.admin import TeamAdmin
from apps.reviews.admin import ChecklistItemAdmin

# Admins whose writes go through services that record the audit event themselves (each has its own tests).
SERVICE_BACKED = {ChecklistItemAdmin, ControlAdmin, TeamAdmin}


@pytest.fixture
def nightly_check(db):
    schedule, _ = CrontabSchedule.objects.get_or_create(minute="30", hour="2")
    return PeriodicTask.objects.create(name="verify-audit-chain-nightly", task="core.verify_audit_chain",
                                       crontab=schedule)


def _is_read_only(model_admin, request) -> bool:
    return not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
                or model_admin.has_delete_permission(request))


def test_every_registered_admin_is_audited_or_read_only(make_user):
    request = RequestFactory().get("/admin/")
    request.user = make_user(is_superuser=True, is_staff=True)
    unaudited = [
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedAdminMixin)
        and type(model_admin) not in SERVICE_BACKED
        and not _is_read_only(model_admin, request)
    ]
    assert unaudited == []


@pytest.mark.parametrize("model", [PeriodicTask, IntervalSchedule, CrontabSchedule])
def test_beat_schedules_are_registered_audited(model):
    assert isinstance(admin.site._registry[model], AuditedAdminMixin)


def test_it_audits_disabling_the_nightly_audit_check_from_the_changelist(client_as, nightly_check):
    client = client_as("admin", username="ada")
    response = client.post(reverse("admin:django_celery_beat_periodictask_changelist"),
                           {"action": "disable_tasks", "_selected_action": [nightly_check.pk]})
    assert response.status_code == 302
    nightly_check.refresh_from_db()
    assert not nightly_check.enabled
    event = AuditEvent.objects.get(action="periodictask.changed")
    assert event.actor_username == "ada" and event.object_id == str(nightly_check.pk)
    assert event.changes["enabled"] == ["True", "False"]
    assert event.reason == "Django admin action: disable_tasks"


def test_it_audits_toggling_tasks_one_event_per_task(client_as, nightly_check):
    other = PeriodicTask.objects.create(name="other", task="risk.mark_overdue_reassessments",
                                        crontab=nightly_check.crontab, enabled=False)
    client_as("admin").post(reverse("admin:django_celery_beat_periodictask_changelist"),
                            {"action": "toggle_tasks", "_selected_action": [nightly_check.pk, other.pk]})
    events = {e.object_id: e.changes["enabled"] for e in AuditEvent.objects.filter(action="periodictask.changed")}
    assert events == {str(nightly_check.pk): ["True", "False"], str(other.pk): ["False", "True"]}


def test_it_audits_an_action_that_changes_no_row(client_as, nightly_check):
    client_as("admin").post(reverse("admin:django_celery_beat_periodictask_changelist"),
                            {"action": "enable_tasks", "_selected_action": [nightly_check.pk]})
    event = AuditEvent.objects.get()
    assert event.action == "periodictask.admin_action" and event.object_repr == "enable_tasks"
    assert event.changes == {"objects": [None, [str(nightly_check)]]}


def test_it_audits_disabling_a_task_through_its_change_form(client_as, nightly_check):
    url = reverse("admin:django_celery_beat_periodictask_change", args=[nightly_check.pk])
    data = {"name": nightly_check.name, "task": nightly_check.task, "crontab": nightly_check.crontab_id,
            "args": "[]", "kwargs": "{}", "priority": "", "headers": "{}"}
    response = client_as("admin").post(url, data)
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="periodictask.changed")
    assert event.changes["enabled"] == ["True", "False"]


def test_it_audits_adding_an_interval_schedule(client_as):
    # The schedule's change form carries the read-only inline of the tasks using it.
    inline = {"periodictask_set-TOTAL_FORMS": 0, "periodictask_set-INITIAL_FORMS": 0}
    response = client_as("admin").post(reverse("admin:django_celery_beat_intervalschedule_add"),
                                       {"every": 10, "period": "minutes", **inline})
    assert response.status_code == 302, response.content[:2000]
    schedule = IntervalSchedule.objects.get()
    event = AuditEvent.objects.get(action="intervalschedule.created")
    assert event.object_id == str(schedule.pk) and event.changes["every"] == [None, "10"]


def test_it_audits_deleting_a_crontab_schedule(client_as, nightly_check):
    schedule = CrontabSchedule.objects.create(minute="0", hour="4")
    client_as("admin").post(reverse("admin:django_celery_beat_crontabschedule_delete", args=[schedule.pk]),
                            {"post": "yes"})
    assert not CrontabSchedule.objects.filter(pk=schedule.pk).exists()
    assert AuditEvent.objects.get(action="crontabschedule.deleted").object_id == str(schedule.pk)


def test_it_audits_a_password_set_through_the_admin(client_as, make_user):
    target = make_user("reviewer", username="bob")
    response = client_as("admin").post(reverse("admin:auth_user_password_change", args=[target.pk]),
                                       {"password1": "A-new-passw0rd-for-bob", "password2": "A-new-passw0rd-for-bob",
                                        "usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="user.password_changed")
    assert event.object_id == str(target.pk) and "A-new" not in str(event.changes)


def test_it_audits_moving_a_single_sign_on_identity_to_another_account(client_as, make_user):
    created = make_user(None, username="erin-sso")
    older = make_user("executive", username="erin")
    identity = ExternalIdentity.objects.create(user=created, issuer="https://idp.invalid", subject="s1")
    response = client_as("admin").post(reverse("admin:core_externalidentity_change", args=[identity.pk]),
                                       {"user": older.pk})
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="externalidentity.changed")
    assert event.changes["user"] == [str(created.pk), str(older.pk)]

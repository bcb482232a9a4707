import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from apps.core.models import AppendOnlyError, AuditEvent, AuditVerification
from apps.core.services import audit_record, changes_between


@pytest.fixture
def events(db, make_user):
    actor = make_user("admin", username="ada")
    return [
        audit_record(actor=actor, action="thing.changed", object_type="x.y", object_id=str(i),
                     changes={"n": [i, i + 1]}, reason=f"step {i}")
        for i in range(1, 6)
    ]


def raw_sql(sql: str, params=()):
    # Simulates someone editing the table by hand, bypassing the ORM's guards.
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{table}", AuditEvent._meta.db_table), params)


def test_it_chains_each_event_to_the_one_before(events):
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))


def test_it_records_the_actor_name_and_the_change(events):
    event = AuditEvent.objects.get(seq=2)
    assert event.actor_username == "ada" and event.changes == {"n": [2, 3]} and event.reason == "step 2"


def test_it_rolls_back_the_event_with_the_failed_transaction(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action="doomed", object_type="x.y", object_id="1")
        raise RuntimeError("the change itself failed")
    assert not AuditEvent.objects.exists()


def test_it_refuses_orm_updates_and_deletes(events):
    event = AuditEvent.objects.get(seq=1)
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(seq=1).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_verify_audit_passes_on_an_untouched_trail(events, capsys):
    call_command("verify_audit")
    assert "5 events verified" in capsys.readouterr().out
    assert AuditVerification.objects.get().ok


def test_verify_audit_names_an_event_edited_in_the_database(events):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited by hand"])
    with pytest.raises(CommandError, match=r"seq=3 .*edited"):
        call_command("verify_audit")
    assert AuditVerification.objects.get().first_bad_seq == 3


def test_verify_audit_names_the_gap_left_by_a_deleted_event(events):
    raw_sql("DELETE FROM {table} WHERE seq = 2")
    with pytest.raises(CommandError, match=r"seq=3 .*missing"):
        call_command("verify_audit")


def test_verify_audit_detects_reordered_events(events):
    # Swap the positions of events 2 and 4 (via a free seq, as seq is unique).
    raw_sql("UPDATE {table} SET seq = 1000 WHERE seq = 2")
    raw_sql("UPDATE {table} SET seq = 2 WHERE seq = 4")
    raw_sql("UPDATE {table} SET seq = 4 WHERE seq = 1000")
    with pytest.raises(CommandError, match=r"seq=2 .*reordered"):
        call_command("verify_audit")


def test_verify_audit_exits_non_zero_as_a_shell_command(events):
    from django.core.management import execute_from_command_line

    raw_sql("UPDATE {table} SET action = %s WHERE seq = 4", ["forged.action"])
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "verify_audit"])
    assert exit_info.value.code == 1


def test_changes_between_lists_only_fields_that_differ():
    assert changes_between({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": [2, 3], "c": [None, 4]}


def test_a_person_with_audit_history_cannot_be_deleted_only_deactivated(events):
    from django.db.models import ProtectedError

    from apps.core.models import AuditEvent as Event

    actor = Event.objects.get(seq=1).actor
    with pytest.raises(ProtectedError):
        actor.delete()
    call_command("verify_audit")

"""The audit chain anchored outside the database by signed checkpoints (issue 13, item 5).

Each attack below passed ``verify_audit`` before checkpoints existed: the remaining chain was valid.
"""

import json
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from apps.core import checkpoints
from apps.core.audit_chain import GENESIS_HASH, compute_hash, parse_checkpoint, signature_ok
from apps.core.models import AppendOnlyError, AuditEvent, AuditVerification
from apps.core.services import audit_checkpoint, audit_record, audit_verify
from apps.core.tasks import audit_checkpoint as audit_checkpoint_task
from tests.core.test_settings import manage


def raw_sql(sql: str, params=(), table=AuditEvent._meta.db_table):
    # Someone with write access to the database, bypassing the ORM's guards.
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{table}", table), params)


def add_events(count: int) -> None:
    for i in range(count):
        audit_record(actor=None, action="thing.changed", object_type="x.y", object_id=str(i), reason=f"step {i}")


def rehash_from(seq: int) -> None:
    """Recompute every hash from ``seq`` on, as an attacker who edited event ``seq`` would."""
    fields = ["id", *[f for f in AuditEvent().hashed_fields() if f != "id"]]
    rows = list(AuditEvent.objects.order_by("seq").values(*fields))
    prev = rows[seq - 2]["hash"] if seq > 1 else GENESIS_HASH
    for row in rows[seq - 1:]:
        row["prev_hash"] = prev
        prev = compute_hash(row)
        raw_sql("UPDATE {table} SET prev_hash = %s, hash = %s WHERE seq = %s", [row["prev_hash"], prev, row["seq"]])


def lines(path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
def anchored(db, _own_audit_checkpoints):
    """Five events, then checkpoint #1 (on seq 5, recorded as seq 6)."""
    add_events(5)
    audit_checkpoint(triggered_by="test")
    return _own_audit_checkpoints


def test_it_appends_a_signed_checkpoint_of_the_head_and_logs_it(db, _own_audit_checkpoints, caplog):
    add_events(3)
    with caplog.at_level(logging.INFO, logger="portal.audit.checkpoint"):
        call_command("audit_checkpoint")
    [line] = lines(_own_audit_checkpoints)
    checkpoint = parse_checkpoint(line)
    assert (checkpoint.n, checkpoint.seq, checkpoint.head) == (1, 3, AuditEvent.objects.get(seq=3).hash)
    assert signature_ok(checkpoint, checkpoints.verification_keys())
    assert [r.getMessage() for r in caplog.records if r.name == "portal.audit.checkpoint"] == [line]
    record = AuditEvent.objects.get(seq=4)
    assert record.action == "audit.checkpointed" and record.changes["mac"] == [None, checkpoint.mac]


def test_each_checkpoint_links_to_the_one_before(anchored):
    add_events(1)
    audit_checkpoint(triggered_by="test")
    first, second = map(parse_checkpoint, lines(anchored))
    assert (second.n, second.prev) == (2, first.mac)


def test_the_periodic_task_writes_nothing_while_no_event_came(anchored):
    audit_checkpoint_task.delay()
    assert len(lines(anchored)) == 1
    add_events(1)
    audit_checkpoint_task.delay()
    assert len(lines(anchored)) == 2


def test_the_key_is_taken_from_the_environment_setting_and_old_keys_still_verify(anchored, settings):
    settings.PORTAL_AUDIT_HMAC_KEY = "a-separate-key-for-the-audit-checkpoints-0123456789"
    [old] = map(parse_checkpoint, lines(anchored))
    assert not signature_ok(old, checkpoints.verification_keys())
    settings.PORTAL_AUDIT_HMAC_OLD_KEYS = [settings.PORTAL_AUDIT_HMAC_KEY]
    settings.PORTAL_AUDIT_HMAC_KEY = "the-next-key-for-the-audit-checkpoints-after-rotation"
    assert signature_ok(old, checkpoints.verification_keys()) is False  # the derived key was never listed
    settings.PORTAL_AUDIT_HMAC_KEY = ""
    assert signature_ok(old, checkpoints.verification_keys())


def test_a_good_check_ends_with_a_checkpoint_and_an_audit_event(anchored):
    report = audit_verify(triggered_by="test")
    assert report.ok, str(report)
    verified = AuditEvent.objects.get(action="audit.verified")
    assert verified.object_id == str(AuditVerification.objects.get().pk)
    assert verified.changes == {"ok": [None, True], "checked": [None, 6], "first_bad_seq": [None, None]}
    assert parse_checkpoint(lines(anchored)[-1]).seq == verified.seq


def test_verify_audit_catches_the_newest_events_deleted(anchored):
    raw_sql("DELETE FROM {table} WHERE seq >= 4")
    with pytest.raises(CommandError, match=r"seq=4: events 4\.\.5 are missing .*checkpoint #1 of "):
        call_command("verify_audit")
    result = AuditVerification.objects.get()
    assert not result.ok and result.first_bad_seq == 4


def test_verify_audit_catches_every_event_deleted(anchored):
    raw_sql("DELETE FROM {table}")
    with pytest.raises(CommandError, match=r"events 1\.\.5 are missing .*checkpoint #1"):
        call_command("verify_audit")


def test_verify_audit_catches_an_event_edited_and_the_chain_rehashed(anchored):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 2", ["rewritten history"])
    rehash_from(2)
    with pytest.raises(CommandError, match=r"seq=5 .*differs from the one signed in checkpoint #1.* seq 1\.\.5"):
        call_command("verify_audit")


def test_verify_audit_catches_the_newest_events_replaced_by_new_ones(anchored):
    # Delete the events after 3 and let the portal go on: new events take seq 4, 5... with other hashes.
    raw_sql("DELETE FROM {table} WHERE seq >= 4")
    add_events(4)
    with pytest.raises(CommandError, match=r"seq=5 .*checkpoint #1"):
        call_command("verify_audit")


def test_verify_audit_reports_a_tampered_checkpoint_line(anchored):
    checkpoint = json.loads(lines(anchored)[0])
    anchored.write_text(json.dumps({**checkpoint, "seq": 3}) + "\n")
    with pytest.raises(CommandError, match=r"line 1 \(checkpoint #1 .*fails its signature check"):
        call_command("verify_audit")


def test_a_forged_checkpoint_never_vouches_for_a_rewritten_chain(anchored, settings):
    raw_sql("DELETE FROM {table} WHERE seq >= 4")
    settings.PORTAL_AUDIT_HMAC_KEY = "the-attacker-guessed-some-other-key-0123456789"
    audit_checkpoint(triggered_by="forger")
    settings.PORTAL_AUDIT_HMAC_KEY = ""
    # The forger's checkpoint was recorded as event 4; event 5, signed by checkpoint #1, is still missing.
    with pytest.raises(CommandError, match=r"events 5\.\.5 are missing.*line 2 .*fails its signature check"):
        call_command("verify_audit")


def test_verify_audit_reports_the_newest_checkpoint_lines_deleted(anchored):
    add_events(2)
    audit_checkpoint(triggered_by="test")
    anchored.write_text(lines(anchored)[0] + "\n")
    with pytest.raises(CommandError, match=r"lost lines: the trail records checkpoint #2 .*ends at #1"):
        call_command("verify_audit")


def test_verify_audit_reports_a_checkpoint_line_deleted_in_the_middle(anchored):
    for _ in range(2):
        add_events(1)
        audit_checkpoint(triggered_by="test")
    first, _second, third = lines(anchored)
    anchored.write_text(f"{first}\n{third}\n")
    with pytest.raises(CommandError, match=r"checkpoints #2\.\.#2 are missing from .*lines deleted"):
        call_command("verify_audit")


def test_verify_audit_reports_the_checkpoint_file_deleted(anchored):
    anchored.unlink()
    with pytest.raises(CommandError, match=r"checkpoint file .* is missing, yet the trail records checkpoint #1"):
        call_command("verify_audit")


def test_a_shipped_copy_catches_the_file_and_the_trail_cut_back_together(anchored, tmp_path):
    add_events(2)
    audit_checkpoint(triggered_by="test")  # checkpoint #2 on seq 8, recorded as seq 9
    shipped = tmp_path / "shipped.log"
    shipped.write_text("".join(f"2026-01-01 12:00:00 INFO portal.audit.checkpoint [-] {line}\n"
                               for line in lines(anchored)))
    raw_sql("DELETE FROM {table} WHERE seq >= 7")
    anchored.write_text(lines(anchored)[0] + "\n")
    # On this host the file and the trail agree again; the shipped copy still vouches for events 7 and 8.
    with pytest.raises(CommandError, match=r"events 7\.\.8 are missing .*checkpoint #2.*"
                                           r"lost lines: 1 checkpoint\(s\) in .*shipped.log are not in it"):
        call_command("verify_audit", "--shipped", str(shipped))


def test_verification_results_are_append_only(anchored):
    audit_verify(triggered_by="test")
    with pytest.raises(AppendOnlyError):
        AuditVerification.objects.get().delete()
    with pytest.raises(AppendOnlyError):
        AuditVerification.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditVerification.objects.update(ok=False)


def test_verify_audit_catches_a_failed_result_deleted_from_the_database(anchored):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited"])
    assert not audit_verify(triggered_by="test").ok
    failed = AuditVerification.objects.get()
    # Cover the tracks: undo the edit and delete the failed result behind the ORM's back.
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["step 2"])
    raw_sql("DELETE FROM {table} WHERE id = %s", [failed.pk], table=AuditVerification._meta.db_table)
    with pytest.raises(CommandError, match=rf"verification result #{failed.pk} of .* \(failed\) was deleted"):
        call_command("verify_audit")


def test_the_home_page_shows_a_deleted_failed_result_as_failed(anchored, client_as):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited"])
    audit_verify(triggered_by="test")
    raw_sql("DELETE FROM {table}", table=AuditVerification._meta.db_table)
    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert 'class="bad">The result of this check (failed, says the audit trail) was deleted' in content


def test_a_failed_result_turned_into_a_pass_is_caught_on_the_page_and_by_verify_audit(anchored, client_as):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited"])
    audit_verify(triggered_by="test")
    failed = AuditVerification.objects.get()
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["step 2"])
    raw_sql("UPDATE {table} SET ok = %s, first_bad_seq = NULL WHERE id = %s", [True, failed.pk],
            table=AuditVerification._meta.db_table)

    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert 'class="bad">The result of this check (failed, says the audit trail) was changed' in content
    with pytest.raises(CommandError, match=rf"verification result #{failed.pk} of .* \(failed\) was changed"):
        call_command("verify_audit")


def test_a_passing_result_inserted_behind_the_orm_does_not_show(anchored, client_as):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited"])
    audit_verify(triggered_by="test")
    failed = AuditVerification.objects.get()
    later = failed.finished_at + timedelta(minutes=5)
    raw_sql("INSERT INTO {table} (started_at, finished_at, ok, checked, first_bad_seq, message, triggered_by) "
            "VALUES (%s, %s, %s, %s, NULL, %s, %s)", [later, later, True, failed.checked, "Audit chain intact", "cron"],
            table=AuditVerification._meta.db_table)

    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert "Audit chain intact" not in content and failed.message in content


def test_the_home_page_says_when_the_checkpoints_are_fresh(anchored, client_as):
    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert 'class="ok">Checkpoint #1 (0\xa0minutes ago) vouches for every event.' in content


def test_the_home_page_says_when_the_checkpoints_are_stale(anchored, client_as, settings):
    add_events(2)
    settings.PORTAL_AUDIT_CHECKPOINT_MINUTES = 0
    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert 'class="bad">Checkpoints are stale: the newest (#1)' in content and "2 newer events" in content


def test_the_home_page_says_when_the_trail_no_longer_matches_the_checkpoint(anchored, client_as):
    raw_sql("DELETE FROM {table} WHERE seq >= 4")
    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert 'class="bad">The trail no longer holds event seq=5 as signed in checkpoint #1' in content



@pytest.mark.parametrize("forged", [{"seq": 3}, {"created_at": "not a time"}])
def test_the_home_page_never_lets_a_forged_checkpoint_line_vouch(anchored, client_as, forged):
    checkpoint = json.loads(lines(anchored)[0])
    anchored.write_text(json.dumps({**checkpoint, **forged}) + "\n")
    response = client_as("admin").get(reverse("core:home"))
    assert response.status_code == 200
    assert 'class="bad">The signature of checkpoint #1' in response.content.decode()


def test_a_failed_check_is_anchored_at_once_so_its_record_cannot_be_cut_off(anchored):
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["edited"])
    assert not audit_verify(triggered_by="test").ok  # recorded as seq 7, then checkpoint #2 on seq 7
    raw_sql("UPDATE {table} SET reason = %s WHERE seq = 3", ["step 2"])
    raw_sql("DELETE FROM {table} WHERE seq >= 7")
    raw_sql("DELETE FROM {table}", table=AuditVerification._meta.db_table)
    with pytest.raises(CommandError, match=r"events 7\.\.7 are missing .*checkpoint #2"):
        call_command("verify_audit")


def test_it_refuses_to_start_with_a_short_audit_key():
    result = manage("check", PORTAL_AUDIT_HMAC_KEY="too-short")
    assert result.returncode != 0 and "PORTAL_AUDIT_HMAC_KEY must be at least 32 characters" in result.stderr

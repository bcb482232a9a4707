"""The pure hash-chain functions, checked against a hand-built chain."""

import hashlib
import json
from datetime import UTC, datetime

from apps.core.audit_chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    compute_hash,
    read_checkpoints,
    sign_checkpoint,
    verify_chain,
)

KEY = b"k" * 32


def make_chain(n: int) -> list[dict]:
    events, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        event = {
            "id": 100 + i, "seq": i, "created_at": datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC),
            "actor_id": 1, "actor_username": "ada", "action": "model.created", "object_type": "inventory.model",
            "object_id": str(i), "object_repr": f"Model {i}", "changes": {"name": [None, f"m{i}"]},
            "reason": "", "request_id": "r", "prev_hash": prev,
        }
        event["hash"] = compute_hash(event)
        prev = event["hash"]
        events.append(event)
    return events


def test_it_hashes_canonical_json_of_the_documented_fields():
    event = make_chain(1)[0]
    payload = {name: event[name] for name in HASHED_FIELDS}
    payload["created_at"] = "2026-01-01T12:00:01+00:00"
    expected = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert event["hash"] == expected


def test_it_accepts_an_intact_chain():
    report = verify_chain(make_chain(5))
    assert report.ok and report.checked == 5


def test_it_accepts_an_empty_chain():
    assert verify_chain([]).ok


def test_it_detects_an_edited_event():
    events = make_chain(5)
    events[2]["reason"] = "quietly changed"
    report = verify_chain(events)
    assert not report.ok
    assert report.first_bad_seq == 3 and "edited" in report.problem


def test_it_detects_a_deleted_event():
    events = make_chain(5)
    del events[1]
    report = verify_chain(events)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "missing" in report.problem


def test_without_a_checkpoint_a_cut_tail_is_a_valid_shorter_chain():
    # Why checkpoints exist: the chain alone cannot tell.
    assert verify_chain(make_chain(5)[:4]).ok


def test_it_detects_reordered_events_even_when_seq_is_rewritten():
    events = make_chain(5)
    events[1], events[2] = events[2], events[1]
    events[1]["seq"], events[2]["seq"] = 2, 3
    report = verify_chain(events)
    assert not report.ok and report.first_bad_seq == 2


def test_it_detects_a_rehashed_forgery_by_the_broken_link_after_it():
    events = make_chain(4)
    events[1]["reason"] = "forged"
    events[1]["hash"] = compute_hash(events[1])
    report = verify_chain(events)
    assert report.first_bad_seq == 3 and "prev_hash" in report.problem


def checkpoint_of(events, seq, *, after=None, key=KEY):
    return sign_checkpoint(key, after=after, seq=seq, head=events[seq - 1]["hash"], created_at="2026-01-02T00:00:00")


def rehashed(events, start):
    prev = events[start - 2]["hash"] if start > 1 else GENESIS_HASH
    for event in events[start - 1:]:
        event["prev_hash"] = prev
        event["hash"] = prev = compute_hash(event)
    return events


def test_a_checkpoint_vouches_for_the_chain_it_signed():
    events = make_chain(5)
    report = verify_chain(events, [checkpoint_of(events, 3), checkpoint_of(events, 5)])
    assert report.ok and report.checked == 5


def test_a_checkpoint_catches_a_cut_tail():
    events = make_chain(5)
    report = verify_chain(events[:3], [checkpoint_of(events, 5)])
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 4, 3)
    assert "events 4..5 are missing" in report.problem and "checkpoint #1" in report.problem


def test_a_checkpoint_catches_an_edit_rehashed_to_the_end_and_narrows_it_down():
    events = make_chain(6)
    anchors = [checkpoint_of(events, 2), checkpoint_of(events, 5)]
    events[2]["reason"] = "forged"
    report = verify_chain(rehashed(events, 3), anchors)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "seq 3..5" in report.problem


def test_every_checkpoint_on_a_seq_must_match_not_only_the_newest():
    events = make_chain(4)
    old = checkpoint_of(events, 4)
    events[3]["reason"] = "appended again after the tail was cut"
    rehashed(events, 4)
    report = verify_chain(events, [old, checkpoint_of(events, 4, after=old)])
    assert not report.ok and report.first_bad_seq == 4


def test_the_checkpoint_file_is_a_chain_of_signed_lines():
    events = make_chain(3)
    first = checkpoint_of(events, 1)
    second = checkpoint_of(events, 2, after=first)
    third = checkpoint_of(events, 3, after=second)
    log = read_checkpoints([c.as_line() for c in (first, second, third)], [KEY], source="f")
    assert log.problems == () and [c.n for c in log.checkpoints] == [1, 2, 3]
    assert third.prev == second.mac


def test_it_reports_lines_deleted_replaced_or_forged():
    events = make_chain(3)
    first = checkpoint_of(events, 1)
    second = checkpoint_of(events, 2, after=first)
    third = checkpoint_of(events, 3, after=second)
    deleted = read_checkpoints([first.as_line(), third.as_line()], [KEY], source="f")
    assert deleted.problems == ("checkpoints #2..#2 are missing from f (lines deleted)",)
    forged = checkpoint_of(events, 3, after=second, key=b"x" * 32)
    log = read_checkpoints([first.as_line(), second.as_line(), forged.as_line(), "{not json"], [KEY], source="f")
    assert [c.n for c in log.checkpoints] == [1, 2]
    assert "line 3 (checkpoint #3" in log.problems[0] and "signature" in log.problems[0]
    assert log.problems[1] == "f line 4 is not a checkpoint record (altered or cut short)"
    replaced = checkpoint_of(events, 2, after=checkpoint_of(events, 2))  # a #2 signed with the key, not after #1
    log = read_checkpoints([first.as_line(), replaced.as_line()], [KEY], source="f")
    assert log.problems == ("f line 2: checkpoint #2 of 2026-01-02T00:00:00 does not follow the line before it "
                            "(a checkpoint was replaced)",)

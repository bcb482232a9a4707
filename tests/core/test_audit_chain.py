"""The pure hash-chain functions, checked against a hand-built chain."""

import hashlib
import json
from datetime import UTC, datetime

from apps.core.audit_chain import GENESIS_HASH, HASHED_FIELDS, compute_hash, verify_chain


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


def test_it_detects_a_deleted_last_event_only_by_its_absence_from_the_count():
    # Truncating the tail leaves a valid shorter chain; the count in the report shows it.
    assert verify_chain(make_chain(5)[:4]).checked == 4


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

"""The audit trail's hash chain, as pure functions (no Django imports).

Each event stores ``prev_hash`` (the hash of the event before it, or
``GENESIS_HASH`` for the first) and ``hash`` = SHA-256 over a canonical JSON
encoding of its own fields plus ``prev_hash``. Events carry a gap-free sequence
number. Editing a row changes its recomputed hash; deleting one leaves a gap in
the sequence; swapping two rows breaks the ``prev_hash`` links. ``verify_chain``
walks the events in sequence order and reports the first one that fails.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "reason",
    "request_id",
    "prev_hash",
)


def canonical(value: Any) -> Any:
    """Values as they hash: datetimes as ISO 8601 in UTC, everything else JSON-native."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def compute_hash(fields: Mapping[str, Any]) -> str:
    payload = {name: canonical(fields.get(name)) for name in HASHED_FIELDS}
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.checked} events verified."
        return (
            f"Audit chain broken at event seq={self.first_bad_seq} (id={self.first_bad_id}): "
            f"{self.problem}. {self.checked} events before it verified."
        )


def verify_chain(events: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Check events given in ascending ``seq`` order; stop at the first bad one."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in events:
        problem = _problem(event, expected_seq, expected_prev)
        if problem:
            return ChainReport(False, checked, event["seq"], event.get("id"), problem)
        expected_prev = event["hash"]
        expected_seq += 1
        checked += 1
    return ChainReport(True, checked)


def _problem(event: Mapping[str, Any], expected_seq: int, expected_prev: str) -> str:
    seq = event["seq"]
    if seq > expected_seq:
        return f"events {expected_seq}..{seq - 1} are missing (deleted)"
    if seq < expected_seq:
        return f"sequence number repeats or goes backwards (expected {expected_seq})"
    if event["prev_hash"] != expected_prev:
        return "its prev_hash does not match the hash of the event before it (reordered or replaced)"
    if compute_hash(event) != event["hash"]:
        return "its content does not match its hash (edited)"
    return ""

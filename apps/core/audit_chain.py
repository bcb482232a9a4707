"""The audit trail's hash chain, as pure functions (no Django imports).

Each event stores ``prev_hash`` (the hash of the event before it, or
``GENESIS_HASH`` for the first) and ``hash`` = SHA-256 over a canonical JSON
encoding of its own fields plus ``prev_hash``. Events carry a gap-free sequence
number. Editing a row changes its recomputed hash; deleting one leaves a gap in
the sequence; swapping two rows breaks the ``prev_hash`` links. ``verify_chain``
walks the events in sequence order and reports the first one that fails.

The chain alone cannot tell that its newest events were deleted, or that someone
edited an event and re-hashed everything after it: the result is again a valid
chain. Checkpoints anchor it from outside the database. A checkpoint signs, with
HMAC-SHA256 under a key the database never sees, the sequence number and hash of
the chain's head at a moment; checkpoints are numbered and each names the MAC of
the one before, so the append-only file they are written to is itself a chain.
Every event at or before a checkpoint's ``seq`` is vouched for by it: the event at
that ``seq`` must still exist and still carry the signed hash.
"""

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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
        where = f"seq={self.first_bad_seq}" + (f" (id={self.first_bad_id})" if self.first_bad_id is not None else "")
        return f"Audit chain broken at event {where}: {self.problem}. {self.checked} events before it verified."


@dataclass(frozen=True)
class AuditReport:
    """The chain's report plus what the checkpoints and the verification records say."""

    chain: ChainReport
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    @property
    def checked(self) -> int:
        return self.chain.checked

    @property
    def first_bad_seq(self) -> int | None:
        return self.chain.first_bad_seq

    def __str__(self) -> str:
        parts = [str(self.chain)]
        if self.problems:
            parts.append("Tampering: " + "; ".join(self.problems) + ".")
        return " ".join([*parts, *self.notes])


def verify_chain(events: Iterable[Mapping[str, Any]], anchors: Sequence["Checkpoint"] = ()) -> ChainReport:
    """Check events given in ascending ``seq`` order; stop at the first bad one.

    ``anchors`` are checkpoints whose signatures were verified: each event at a checkpoint's ``seq`` must
    carry the checkpoint's hash, and the chain must reach the newest checkpoint's ``seq``.
    """
    by_seq: dict[int, list[Checkpoint]] = defaultdict(list)
    for checkpoint in anchors:
        by_seq[checkpoint.seq].append(checkpoint)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    vouched = 0
    for event in events:
        problem = _problem(event, expected_seq, expected_prev) or _anchor_problem(event, by_seq, vouched)
        if problem:
            return ChainReport(False, checked, event["seq"], event.get("id"), problem)
        vouched = event["seq"] if event["seq"] in by_seq else vouched
        expected_prev = event["hash"]
        expected_seq += 1
        checked += 1
    newest = max(anchors, key=lambda c: c.seq, default=None)
    if newest is not None and newest.seq >= expected_seq:
        return ChainReport(
            False, checked, expected_seq, None,
            f"events {expected_seq}..{newest.seq} are missing (deleted from the end of the trail): "
            f"{newest.describe()} signed event seq={newest.seq} with hash {newest.head[:12]}…",
        )
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


def _anchor_problem(event: Mapping[str, Any], by_seq: Mapping[int, list["Checkpoint"]], vouched: int) -> str:
    for checkpoint in by_seq.get(event["seq"], ()):
        if checkpoint.head != event["hash"]:
            return (
                f"its hash differs from the one signed in {checkpoint.describe()}: an event in "
                f"seq {vouched + 1}..{event['seq']} was edited, deleted or replaced and the chain re-hashed"
            )
    return ""


# --- Checkpoints ---------------------------------------------------------------------

CHECKPOINT_VERSION = 1
SIGNED_FIELDS = ("v", "n", "seq", "head", "created_at", "prev")


@dataclass(frozen=True)
class Checkpoint:
    """The signed head of the chain: checkpoint number ``n`` saw event ``seq`` with hash ``head``."""

    n: int
    seq: int
    head: str
    created_at: str
    prev: str
    mac: str

    def describe(self) -> str:
        return f"checkpoint #{self.n} of {self.created_at}"

    def as_line(self) -> str:
        fields = {"v": CHECKPOINT_VERSION, **{k: getattr(self, k) for k in SIGNED_FIELDS[1:]}, "mac": self.mac}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def _mac(key: bytes, fields: Mapping[str, Any]) -> str:
    message = json.dumps({k: fields[k] for k in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_checkpoint(key: bytes, *, after: Checkpoint | None, seq: int, head: str, created_at: str) -> Checkpoint:
    """The checkpoint that follows ``after`` (``None`` for the first one)."""
    n = after.n + 1 if after else 1
    prev = after.mac if after else GENESIS_HASH
    fields = {"v": CHECKPOINT_VERSION, "n": n, "seq": seq, "head": head, "created_at": created_at, "prev": prev}
    return Checkpoint(n=n, seq=seq, head=head, created_at=created_at, prev=prev, mac=_mac(key, fields))


def parse_checkpoint(text: str) -> Checkpoint | None:
    """The checkpoint a line holds, or ``None`` if it is not one (signature not checked here)."""
    try:
        fields = json.loads(text)
        checkpoint = Checkpoint(
            n=fields["n"], seq=fields["seq"], head=fields["head"], created_at=fields["created_at"],
            prev=fields["prev"], mac=fields["mac"],
        )
    except (ValueError, TypeError, KeyError):
        return None
    if fields.get("v") != CHECKPOINT_VERSION or not all(isinstance(v, int) for v in (checkpoint.n, checkpoint.seq)):
        return None
    return checkpoint


def signature_ok(checkpoint: Checkpoint, keys: Sequence[bytes]) -> bool:
    fields = {"v": CHECKPOINT_VERSION, **{k: getattr(checkpoint, k) for k in SIGNED_FIELDS[1:]}}
    return any(hmac.compare_digest(_mac(key, fields), str(checkpoint.mac)) for key in keys)


@dataclass(frozen=True)
class CheckpointLog:
    """What a checkpoint file holds: the checkpoints whose signature verifies, and what is wrong with it."""

    checkpoints: tuple[Checkpoint, ...]
    problems: tuple[str, ...]

    @property
    def last(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def read_checkpoints(lines: Iterable[str], keys: Sequence[bytes], *, source: str) -> CheckpointLog:
    """Check each line's signature and that each checkpoint follows the one before (none deleted or replaced).

    Only checkpoints whose signature verifies are returned: a forged line must never vouch for the chain.
    """
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    previous: Checkpoint | None = None
    for number, text in enumerate(lines, start=1):
        checkpoint = parse_checkpoint(text)
        if checkpoint is None:
            problems.append(f"{source} line {number} is not a checkpoint record (altered or cut short)")
            continue
        if not signature_ok(checkpoint, keys):
            problems.append(
                f"{source} line {number} ({checkpoint.describe()}) fails its signature check: it was altered or "
                "forged, or signed with a key that is no longer configured (PORTAL_AUDIT_HMAC_OLD_KEYS)"
            )
            continue
        expected_n = previous.n + 1 if previous else 1
        if checkpoint.n > expected_n:
            problems.append(f"checkpoints #{expected_n}..#{checkpoint.n - 1} are missing from {source} (lines deleted)")
        elif checkpoint.n < expected_n:
            problems.append(f"{source} line {number}: checkpoint #{checkpoint.n} repeats or goes backwards")
        elif checkpoint.prev != (previous.mac if previous else GENESIS_HASH):
            problems.append(f"{source} line {number}: {checkpoint.describe()} does not follow the line before it "
                            "(a checkpoint was replaced)")
        checkpoints.append(checkpoint)
        previous = checkpoint
    return CheckpointLog(tuple(checkpoints), tuple(problems))

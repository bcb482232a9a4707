"""Where audit checkpoints live outside the database: an append-only JSON-lines file and the log.

The file (``PORTAL_AUDIT_CHECKPOINT_FILE``, by default ``$PORTAL_VAR_DIR/audit/checkpoints.jsonl``) is only
ever opened with ``O_APPEND`` and fsynced after each line; an exclusive ``flock`` makes numbering and the link
to the previous line safe when the beat task and a command write at once. Each line is also logged at INFO on
the ``portal.audit.checkpoint`` logger, so whatever ships the logs off the host carries a copy that someone
with the database and this host cannot rewrite (``verify_audit --shipped`` compares against it).

The signing key comes from the environment only (``PORTAL_AUDIT_HMAC_KEY``); without one it is derived from
``DJANGO_SECRET_KEY`` with a purpose of its own, so it never equals a key Django uses for anything else.
"""

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.utils.crypto import salted_hmac

from apps.core.audit_chain import Checkpoint, CheckpointLog, parse_checkpoint, read_checkpoints, signature_ok

logger = logging.getLogger("portal.audit.checkpoint")

_KEY_PURPOSE = "mlops_portal.audit.checkpoint-key"
# A checkpoint line is about 330 bytes; the last one is always inside this many bytes from the end.
_TAIL_BYTES = 4096


def checkpoint_path() -> Path:
    return Path(settings.PORTAL_AUDIT_CHECKPOINT_FILE)


def _derived_key(secret: str) -> bytes:
    return salted_hmac(_KEY_PURPOSE, "audit checkpoints", secret=secret, algorithm="sha256").digest()


def signing_key() -> bytes:
    if settings.PORTAL_AUDIT_HMAC_KEY:
        return settings.PORTAL_AUDIT_HMAC_KEY.encode()
    return _derived_key(settings.SECRET_KEY)


def verification_keys() -> list[bytes]:
    """The current key first, then retired ones, so checkpoints signed before a rotation still verify."""
    keys = [signing_key(), *(key.encode() for key in settings.PORTAL_AUDIT_HMAC_OLD_KEYS)]
    if not settings.PORTAL_AUDIT_HMAC_KEY:
        keys += [_derived_key(secret) for secret in settings.SECRET_KEY_FALLBACKS]
    return keys


@contextmanager
def locked_for_append(path: Path) -> Iterator[int]:
    """An ``O_APPEND`` descriptor on ``path`` under an exclusive lock held until the block ends."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if created:
            # The new file's directory entry must survive a crash as well as its first line.
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        yield fd
    finally:
        os.close(fd)


def append(fd: int, checkpoint: Checkpoint) -> None:
    line = checkpoint.as_line()
    os.write(fd, (line + "\n").encode())
    os.fsync(fd)
    logger.info(line)


def last_checkpoint(path: Path) -> Checkpoint | None:
    """The newest checkpoint in the file (signature not checked), or ``None``.

    A line cut short by a crash is passed over, so numbering goes on; ``verify_audit`` reports the bad line.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    return next((c for c in map(parse_checkpoint, reversed(lines)) if c is not None), None)


def read_file(path: Path) -> CheckpointLog | None:
    """Every checkpoint in the file, checked; ``None`` when there is no file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return read_checkpoints((line.rstrip("\n") for line in handle), verification_keys(), source=str(path))
    except FileNotFoundError:
        return None


def read_shipped(path: Path) -> CheckpointLog:
    """Checkpoints found in a shipped log: any line whose message is a checkpoint record; other lines are skipped.

    Not checked for continuity: a shipped log may hold only part of the history (rotation, several hosts).
    """
    keys = verification_keys()
    found: list[Checkpoint] = []
    problems: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            start = line.find('{"')
            checkpoint = parse_checkpoint(line[start:]) if start >= 0 else None
            if checkpoint is None:
                continue
            if signature_ok(checkpoint, keys):
                found.append(checkpoint)
            else:
                problems.append(f"{path} line {number} ({checkpoint.describe()}) fails its signature check")
    return CheckpointLog(tuple(found), tuple(problems))

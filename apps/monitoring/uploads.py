"""Large files in parts: start an upload, send its parts, complete it; a worker assembles and checks the file.

The protocol is S3's multipart upload in plain HTTP (README, "Large files"): ``upload_start`` fixes the file's
size and the part size (and the file's SHA-256, unless it is given at completion, so a client can hash the file
while it sends it); each part is sent alone with its own SHA-256 and may be sent again; a part is streamed from
the request into its place (a remote store: through a spooled file), so a web process holds at most one block of
it in memory. ``upload_complete`` hands the assembly to a worker (``upload_assemble``), which verifies the whole
file's SHA-256 and

* CSV and JSON Lines of any size: checks the file piece by piece while its parts are read once, hashed and copied
  into one file, writing its Parquet copy (``streaming.check_and_convert``); Parquet: assembled first, then the
  same batch by batch; an evaluation's metrics are computed from the checked pieces in the same pass
  (``_Metrics``), so it is recorded ``done`` without a second read of the file;
* anything else (a JSON array, a compressed or empty file) up to ``PORTAL_MAX_UPLOAD_MB``: the ordinary upload
  services, whose checks name what is wrong with it; above, the streamed check refuses it.

An upload still open a few seconds after it started is checked by a worker while its parts arrive
(``upload_follow``), the same way; what it read counts only if it is the file declared at completion.

A refusal ends the session ``rejected`` with its problems (the shape of a direct upload's 400) and nothing
stored. Whatever the outcome, the parts are deleted; ``uploads_expire`` deletes those of abandoned uploads.
"""

import contextlib
import errno
import hashlib
import io
import logging
import mmap
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import storage as files
from apps.core.errors import ConflictError, DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record
from apps.core.uncached import UncachedFile
from apps.inventory.models import ModelVersion, Stage
from apps.monitoring import batches, ingest, labels, selectors, services, storage, streaming
from apps.monitoring.ingest import IngestError, Problem
from apps.monitoring.limits import upload_limits
from apps.monitoring.models import Evaluation, LabelBatch, ReferenceData, UploadSession

logger = logging.getLogger(__name__)
BLOCK_BYTES = 1024 * 1024
# A part is spooled in memory up to this size, then on local disk: a web process holds one block plus this.
SPOOL_BYTES = 8 * 1024 * 1024
STREAM_BLOCK_BYTES = streaming.BLOCK_BYTES
# A part on local disk is written past the page cache (``uncached.UncachedFile``) in blocks of this size, and the
# worker reads it back the same way (``_Parts``): each new page of the cache costs CPU, about 0.5 s per 200 MB here.
PART_STAGE_BYTES = 4 * 1024 * 1024


# While a file is checked the disk holds its parts, the file and its Parquet copy (about 0.6 of a CSV): an upload
# starts only when the storage's disk has this many times the file's size free.
DISK_FACTOR = 2.7


class TooLargeError(DomainError):
    status_code = 413


class InsufficientStorageError(DomainError):
    status_code = 507


def upload_sessions_for(user):
    """The uploads a person may see and continue: their own. Anyone else's is a 404, never a 403."""
    return UploadSession.objects.filter(created_by=user).select_related("version__model")


@transaction.atomic
def upload_start(*, actor, version: ModelVersion, filename: str, size: int, sha256: str, purpose: str,
                 options: dict, evaluation: Evaluation | None = None) -> UploadSession:
    """Open an upload of ``size`` bytes; ``options`` are the evaluation's (kind, columns, sensitive_features,
    positive_label); late labels (``purpose`` labels) name the ``evaluation`` of ``version`` they are for.
    ``sha256`` may be empty: it is then given when the upload is completed (a client hashes the file while it
    sends it). Refuses a file over ``PORTAL_MAX_LARGE_UPLOAD_GB`` before any byte is sent (413), and one the
    storage's disk has no room for (507)."""
    require(actor, Capability.UPLOAD_EVALUATION, version.model)
    if purpose == UploadSession.Purpose.LABELS:
        if evaluation is None:
            raise DomainError("Name the evaluation the labels are for.", field="evaluation")
        if evaluation.version_id != version.pk:
            raise DomainError(f"Evaluation #{evaluation.pk} is not an evaluation of {version}.", field="evaluation")
        services.require_labels_later(evaluation)
        options = {"evaluation": evaluation.pk}
    limit = settings.PORTAL_MAX_LARGE_UPLOAD_BYTES
    if size < 1:
        raise DomainError("size must be the file's size in bytes, at least 1.", field="size")
    if size > limit:
        raise TooLargeError(f"The file is {size / 2**30:,.2f} GB; uploads may be at most {limit / 2**30:,.2f} GB "
                            "(PORTAL_MAX_LARGE_UPLOAD_GB). Nothing was stored.", field="size")
    # One start at a time per person (their row locked), so two at once cannot both pass the count below.
    list(get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))
    _require_fewer_open(actor)
    _require_disk(size, labelled=evaluation if purpose == UploadSession.Purpose.LABELS else None)
    if purpose == UploadSession.Purpose.EVALUATION and options.get("kind") not in Evaluation.Kind.values:
        raise DomainError(f"kind must be one of {', '.join(Evaluation.Kind.values)}.", field="kind")
    if purpose == UploadSession.Purpose.EVALUATION and version.stage == Stage.RETIRED:
        raise ConflictError(f"{version} is retired; evaluations are not accepted for it.")
    session = UploadSession.objects.create(
        version=version, purpose=purpose, filename=filename[:255], size_bytes=size,
        sha256=services.check_sha256(sha256) if sha256 else "", part_size=settings.PORTAL_UPLOAD_PART_BYTES,
        options=options,
        created_by=actor, expires_at=timezone.now() + timedelta(hours=settings.PORTAL_UPLOAD_EXPIRY_HOURS))
    audit_record(actor=actor, action="upload.started", obj=session,
                 changes={"size": [None, size], "sha256": [None, session.sha256], "purpose": [None, purpose]})
    return session


def _open_uploads(**filters):
    return UploadSession.objects.filter(state=UploadSession.State.OPEN, expires_at__gt=timezone.now(), **filters)


def _require_fewer_open(actor) -> None:
    """Each open upload holds disk for its parts until it is completed, aborted or expired: a person (or a script
    looping on failures) may keep at most ``PORTAL_MAX_OPEN_UPLOADS`` open at once."""
    limit = settings.PORTAL_MAX_OPEN_UPLOADS
    mine = _open_uploads(created_by=actor).order_by("expires_at")
    if mine.count() < limit:
        return
    oldest = mine.first()
    raise ConflictError(
        f"You have {limit} uploads in parts open, the most one person may have (PORTAL_MAX_OPEN_UPLOADS). Complete "
        f"or abort one (DELETE /api/v1/uploads/<id>/), or wait until the oldest, {oldest.pk} "
        f"({oldest.filename}), expires at {oldest.expires_at:%Y-%m-%d %H:%M} UTC. Nothing was stored.")


def _require_disk(size: int, *, labelled: Evaluation | None = None) -> None:
    """Refuse, before any byte is sent, an upload the local storage's disk could not hold while it is checked
    (a remote storage has no disk to measure here; the worker checks its own folder before it assembles).
    Late labels for the evaluation ``labelled`` need, beside the parts and the file, their ids and the
    evaluation's while they are matched (``services.label_check_disk_bytes``; the worker measures again).

    The disk's free space is shared with the uploads already open: each will still need its share (about
    ``DISK_FACTOR`` times its size, less the parts it has sent), so what they are owed is counted as taken, and
    many starts of large files cannot each see the same free space and fill the disk together."""
    folder = files.local_path("monitoring/uploads")
    if folder is None:
        return
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    owed, others = 0, 0
    for total, parts in _open_uploads().values_list("size_bytes", "parts").iterator():
        sent = sum(int(part.get("size", 0)) for part in (parts or {}).values())
        owed, others = owed + max(0, int(total * DISK_FACTOR) - sent), others + 1
    needed, what = int(size * DISK_FACTOR), "its parts, the file and its Parquet copy"
    if labelled is not None:
        needed = max(needed, 2 * size + services.label_check_disk_bytes(labelled, size))
        what = "its parts, the file, its ids and the evaluation's while they are matched, and its stored copy"
    free = shutil.disk_usage(folder).free
    if free - owed < needed:
        held = (f", of which {owed / 2**30:,.1f} GB is kept for {others} upload{'s' if others != 1 else ''} in "
                "progress" if owed else "")
        raise InsufficientStorageError(
            f"The portal's disk has {free / 2**30:,.1f} GB free{held}; a {size / 2**30:,.2f} GB file needs about "
            f"{needed / 2**30:,.1f} GB while it is checked ({what}). Free space "
            "on the server, wait for the uploads in progress, or upload a smaller file. Nothing was stored.",
            field="size")


def _expected_size(session: UploadSession, number: int) -> int:
    if not 1 <= number <= session.part_count:
        raise DomainError(f"Part {number} does not exist: this upload has parts 1 to {session.part_count}.",
                          field="number")
    if number < session.part_count:
        return session.part_size
    return session.size_bytes - session.part_size * (session.part_count - 1)


def _require_open(session: UploadSession) -> None:
    if session.state != UploadSession.State.OPEN:
        raise ConflictError(f"This upload is {session.get_state_display().lower()}; it takes no more parts.")
    if session.expires_at <= timezone.now():
        raise ConflictError("This upload expired; start a new one.")


def _receive(stream, out, *, expected: int, declared: int | None) -> str:
    """Copy at most ``expected`` bytes of ``stream`` into ``out`` a block at a time, hashing them; a longer body
    is a 413. A body whose declared length is over ``expected`` is refused before a byte is read."""
    too_long = f"Part bodies may be at most {expected:,} bytes (this part's size); nothing was stored."
    if declared is not None and declared > expected:
        raise TooLargeError(f"The body declares {declared:,} bytes. {too_long}")
    digest, received = hashlib.sha256(), 0
    while block := stream.read(min(BLOCK_BYTES, expected + 1 - received)):
        received += len(block)
        if received > expected:
            raise TooLargeError(f"The body is longer than {expected:,} bytes. {too_long}")
        digest.update(block)
        out.write(block)
    if received != expected:
        raise DomainError(f"This part has {received:,} bytes; it must have {expected:,} (every part but the last "
                          "has the upload's part_size; the last one the rest).", field="body")
    return digest.hexdigest()


def _check_part(number: int, digest: str, part_sha256: str) -> None:
    if digest != part_sha256:
        raise DomainError(f"Part {number} arrived with the SHA-256 {digest}, not the {part_sha256} its "
                          "X-Part-SHA256 header declares: it was damaged on the way. Send it again; nothing "
                          "was stored.", field="X-Part-SHA256")


def _receive_in_place(path: str, stream, *, number: int, expected: int, declared: int | None,
                      part_sha256: str) -> tuple[str, str]:
    """A local store: the body goes straight into a file beside the part's place (one write of the part instead of
    two, a spool then the storage's copy). Answers (its SHA-256, the file), which the caller renames over the part
    once the upload is known to be still open; the name is unique per request, so a damaged or cut-off resend, or
    two sends at once, never touch the earlier good copy. Nothing is left behind on failure."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    incoming = f"{path}.incoming-{secrets.token_hex(8)}"
    try:
        with UncachedFile(incoming, block_bytes=PART_STAGE_BYTES) as out:  # read once, by the worker
            digest = _receive(stream, out, expected=expected, declared=declared)
        _check_part(number, digest, part_sha256)
    except BaseException as exc:
        _remove(incoming)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorageError(
                f"The portal's disk filled up while part {number} was written; the part was not stored (an "
                "earlier copy of it is kept). Send it again once the administrator has freed space.") from exc
        raise
    return digest, incoming


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def upload_part_put(*, actor, session: UploadSession, number: int, stream, declared_length: int | None,
                    part_sha256: str) -> UploadSession:
    """Store part ``number`` from ``stream`` (a file-like request body), replacing an earlier copy of it.

    The part is checked (its size, its SHA-256 from the X-Part-SHA256 header) before it replaces anything; the
    web process holds one block of it at a time. The body is streamed outside any transaction; the checked part
    replaces the stored one only under the upload's row lock, once the upload is known to be still open: a
    completion that came while the body arrived has handed the parts to a worker, which must read them as they
    were (the part is refused with 409 instead). On a remote store (S3) the spooled part is copied up under that
    lock, so a completion waits for the parts in flight.
    """
    require(actor, Capability.UPLOAD_EVALUATION, session.version.model)
    _require_open(session)
    expected = _expected_size(session, number)
    part_sha256 = services.check_sha256(part_sha256, "X-Part-SHA256")
    name = session.part_name(number)
    local = files.local_path(name)
    received = {"number": number, "expected": expected, "declared": declared_length, "part_sha256": part_sha256}
    with contextlib.ExitStack() as cleanup:
        if local is not None:
            digest, incoming = _receive_in_place(local, stream, **received)
            cleanup.callback(_remove, incoming)  # nothing to remove once it replaced the part
            keep = partial(os.replace, incoming, local)
        else:
            spool = cleanup.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))
            digest = _receive(stream, spool, expected=expected, declared=declared_length)
            _check_part(number, digest, part_sha256)
            keep = partial(files.put_file, name, spool, size=expected, replace=True)
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().get(pk=session.pk)
            _require_open(locked)
            keep()
            locked.parts[str(number)] = {"size": expected, "sha256": digest}
            locked.save(update_fields=["parts"])
            if number == 1 and _followable(locked):
                age = (timezone.now() - locked.created_at).total_seconds()
                later = max(0.0, settings.PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS - age)
                transaction.on_commit(partial(enqueue_follow, locked.pk, countdown=later))
    return locked


def missing_parts(session: UploadSession) -> list[int]:
    return [n for n in range(1, session.part_count + 1) if str(n) not in session.parts]


def upload_complete(*, actor, session: UploadSession, sha256: str = "") -> UploadSession:
    """Every part is here: hand the assembly to a worker. ``sha256``, the whole file's, is required when the upload
    started without it, and must be the same when it started with it. Completing twice answers the session as it
    stands.

    Recorded as ``upload.submitted`` with the person who completed it; a hash given only now is in its changes,
    since ``upload.started`` recorded it empty and the trail must show who declared the hash the file is checked
    against. (Not ``upload.completed``: that is the portal's acceptance, and the trail's filter matches prefixes.)"""
    require(actor, Capability.UPLOAD_EVALUATION, session.version.model)
    with transaction.atomic():
        session = UploadSession.objects.select_for_update().get(pk=session.pk)
        if session.state != UploadSession.State.OPEN:
            if session.state in (UploadSession.State.PROCESSING, UploadSession.State.COMPLETE,
                                 UploadSession.State.REJECTED):
                return session
            _require_open(session)
        _require_open(session)
        missing = missing_parts(session)
        if missing:
            shown = ", ".join(str(n) for n in missing[:20]) + (" …" if len(missing) > 20 else "")
            raise ConflictError(f"{len(missing)} of {session.part_count} parts are missing: {shown}. Send them, "
                                "then complete the upload again.")
        declared = _declared_sha256(session, sha256)
        changes = {"state": ["open", "processing"]}
        if declared != session.sha256:
            changes["sha256"] = [session.sha256, declared]
        session.sha256, session.state = declared, UploadSession.State.PROCESSING
        session.save(update_fields=["state", "sha256"])
        audit_record(actor=actor, action="upload.submitted", obj=session, changes=changes)
        transaction.on_commit(lambda: enqueue(session.pk))
    return session


def _declared_sha256(session: UploadSession, sha256: str) -> str:
    if not sha256:
        if not session.sha256:
            raise DomainError("sha256 is required: this upload started without the whole file's SHA-256, so "
                              "completing it must give it.", field="sha256")
        return session.sha256
    sha256 = services.check_sha256(sha256)
    if session.sha256 and sha256 != session.sha256:
        raise DomainError(f"sha256 {sha256} is not the {session.sha256} declared when the upload started; "
                          "the file changed? Start a new upload.", field="sha256")
    return sha256


def enqueue(session_id) -> bool:
    """Hand the assembly to the broker; if it is down, ``uploads_expire`` sends it again later."""
    from apps.monitoring.tasks import assemble_upload

    try:
        assemble_upload.apply_async(args=[str(session_id)], retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the sweep sends it later
        logger.warning("broker unavailable; upload %s waits for the sweep", session_id)
        return False
    return True


def _delete_parts(session: UploadSession) -> None:
    """The parts, and whatever a web process killed mid-part left beside them (``<part>.incoming-…``)."""
    for number in range(1, session.part_count + 1):
        files.delete(session.part_name(number))
    files.delete_folder(os.path.dirname(session.part_name(1)))


@transaction.atomic
def upload_abort(*, actor, session: UploadSession) -> UploadSession:
    """Stop an open upload and delete its parts; an upload already handed to a worker cannot be aborted."""
    require(actor, Capability.UPLOAD_EVALUATION, session.version.model)
    session = UploadSession.objects.select_for_update().get(pk=session.pk)
    if session.state != UploadSession.State.OPEN:
        raise ConflictError(f"This upload is {session.get_state_display().lower()}; only an open one can be "
                            "aborted.")
    session.state, session.finished_at = UploadSession.State.ABORTED, timezone.now()
    session.save(update_fields=["state", "finished_at"])
    audit_record(actor=actor, action="upload.aborted", obj=session, changes={"state": ["open", "aborted"]})
    transaction.on_commit(lambda: _delete_parts(session))
    return session


def uploads_expire(*, now=None) -> int:
    """The hourly sweep: delete the parts of uploads left open past their expiry, and send again the assemblies
    that never reached a worker (the broker was down at completion, or lost the message). A worker that died on
    the way is the requeue sweep's (``requeue_stale_uploads``)."""
    now = now or timezone.now()
    expired = 0
    for session in UploadSession.objects.filter(state=UploadSession.State.OPEN, expires_at__lte=now):
        if UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
                state=UploadSession.State.EXPIRED, finished_at=now):
            _delete_parts(session)
            expired += 1
    processing = UploadSession.objects.filter(state=UploadSession.State.PROCESSING)
    for pk in processing.filter(started_at__isnull=True, created_at__lt=now - timedelta(minutes=2)).values_list(
            "pk", flat=True):
        enqueue(pk)
    _sweep_folders(now)
    sweep_scratch()
    return expired


def requeue_stale_uploads(*, now=None) -> int:
    """Free the claims of workers that died assembling or following an upload (their heartbeat silent for
    ``PORTAL_TASK_HEARTBEATS_MISSED`` beats: killed, out of memory, host lost), or that overran the task lease,
    and send a completed upload's assembly again; after ``PORTAL_TASK_MAX_ATTEMPTS`` assemblies whose workers
    died, the upload is rejected, saying so, rather than kill workers forever. A follower's claim on an upload
    still open is freed only: its completion queues the assembly. Run with the requeue sweep (every
    ``PORTAL_REQUEUE_SWEEP_SECONDS``); answers how many assemblies it sent."""
    now = now or timezone.now()
    silent = selectors.worker_silent_since(now)
    lease = now - timedelta(seconds=settings.PORTAL_TASK_LEASE_SECONDS)
    dead = Q(heartbeat_at__lt=silent) | Q(heartbeat_at__isnull=True, started_at__lt=silent)
    claimed = UploadSession.objects.filter(started_at__isnull=False)
    claimed.filter(dead, state=UploadSession.State.OPEN).update(started_at=None, heartbeat_at=None)
    sent = 0
    for session in claimed.filter(dead | Q(started_at__lt=lease), state=UploadSession.State.PROCESSING):
        if session.attempts >= settings.PORTAL_TASK_MAX_ATTEMPTS:
            _give_up(session)
        elif UploadSession.objects.filter(pk=session.pk, started_at=session.started_at).update(
                started_at=None, heartbeat_at=None):
            sent += enqueue(session.pk)
    return sent


def _give_up(session: UploadSession) -> None:
    """Reject an upload whose assembly was claimed ``PORTAL_TASK_MAX_ATTEMPTS`` times by workers that died or
    overran the lease (a file that takes more memory than the worker has would kill every worker it reaches)."""
    times = f"{session.attempts} time{'s' if session.attempts != 1 else ''}"
    try:
        _reject(session, [Problem(None, (), (
            f"the file was checked {times} and the worker checking it died each time (killed or out of memory?) "
            f"or took longer than the {settings.PORTAL_TASK_LEASE_SECONDS} s limit (PORTAL_TASK_LEASE_SECONDS); "
            "it may be too large for this machine: send it in smaller files, or ask the administrator"))])
    except ClaimLost:  # freed or ended meanwhile
        return
    logger.warning("upload %s given up after %s attempts", session.pk, session.attempts)
    _delete_parts(session)


SCRATCH_PREFIX = "portal-upload-"
# A scratch folder nothing has written into for this long belongs to a check that died (a live one writes its file
# and Parquet copy as it reads; storing a large file in a remote store takes minutes, not this).
SCRATCH_IDLE = timedelta(hours=1)


def sweep_scratch(*, idle: timedelta = SCRATCH_IDLE, folder: str | None = None) -> list[str]:
    """Delete the check folders (``portal-upload-*``) in this machine's temporary folder (``folder``: the system's)
    that nothing has written into for ``idle``. A check works there when the parts are not on this machine's disk
    (a remote store, ``_scratch``), and a worker killed mid-check leaves the file and its Parquet copy behind
    (gigabytes at 10M rows) where ``_sweep_folders`` cannot see them: every worker process sweeps its own machine
    when it starts (``tasks``), which is when a killed one is replaced. Answers the folders deleted."""
    root = folder or tempfile.gettempdir()
    cutoff, deleted = time.time() - idle.total_seconds(), []
    try:
        entries = [entry for entry in os.scandir(root)
                   if entry.name.startswith(SCRATCH_PREFIX) and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    for entry in entries:
        if _last_written(entry.path) < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            deleted.append(entry.name)
    if deleted:
        logger.warning("deleted %d check folders left by killed workers in %s: %s", len(deleted), root,
                       ", ".join(deleted[:20]))
    return deleted


def _last_written(path: str) -> float:
    """The latest modification time of the folder at ``path`` and of everything in it."""
    latest = 0.0
    for folder, _, names in os.walk(path):
        for written in (folder, *(os.path.join(folder, name) for name in names)):
            with contextlib.suppress(FileNotFoundError):
                latest = max(latest, os.stat(written, follow_symlinks=False).st_mtime)
    return latest


UPLOADS_FOLDER = "monitoring/uploads"
# An ended upload's folder is left alone this long: the worker that ended it deletes it itself a moment later.
FOLDER_GRACE = timedelta(hours=1)


def _sweep_folders(now) -> list[str]:
    """Delete, whole, the folder of every upload that ended more than ``FOLDER_GRACE`` ago (or whose record is
    gone): what ``_delete_parts`` cannot reach is left there, chiefly the scratch folder of a worker killed
    mid-check (the file and its Parquet copy: gigabytes for a large upload), which its retry does not reuse.
    Open and processing uploads are never touched. Local storage only: with a remote store, scratch folders are in
    the workers' own temporary folders (``sweep_scratch``). Answers the uploads whose folders were deleted."""
    root = files.local_path(UPLOADS_FOLDER)
    if root is None or not os.path.isdir(root):
        return []
    folders = {}
    for entry in os.scandir(root):
        with contextlib.suppress(ValueError):
            if entry.is_dir(follow_symlinks=False):
                folders[str(uuid.UUID(entry.name))] = entry
    if not folders:
        return []
    cutoff = now - FOLDER_GRACE
    known = {str(pk): ended for pk, ended in
             UploadSession.objects.filter(pk__in=list(folders)).values_list("pk", "finished_at")}
    swept = []
    for pk, entry in folders.items():
        if pk in known:
            ended = known[pk]
            if ended is None or ended > cutoff:  # open, processing, or ended a moment ago
                continue
        elif entry.stat(follow_symlinks=False).st_mtime > cutoff.timestamp():
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        swept.append(pk)
    if swept:
        logger.warning("deleted the folders of %d ended uploads holding what a killed process left: %s", len(swept),
                       ", ".join(swept[:20]))
    return swept


# --- Following (the worker, while the parts arrive) -----------------------------------------------------------


def _followable(session: UploadSession) -> bool:
    """Whether a worker is asked to check ``session`` as its parts arrive, if it is still open
    ``PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS`` after it started: an evaluation or reference data of more than one part,
    on local storage, unless following is off (``PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS`` 0) or tasks run in the calling
    process (the follower would wait, inside the request, for the parts after it).

    Not at once: a file sent in a moment (on this machine, 200 MB in 0.8 s) gains nothing, since the check needs the
    CPU that receiving the parts takes (measured at 1M rows, followed from the first part at the same priority:
    the answer 0.3 s later, ``done`` no sooner); a file
    whose sending takes longer than its checking (most, over a network) is ``done`` about when it is sent."""
    from celery import current_app

    return (settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS > 0 and not current_app.conf.task_always_eager
            and session.purpose != UploadSession.Purpose.LABELS and session.part_count > 1
            and session.started_at is None and files.local_path(session.part_name(1)) is not None)


def enqueue_follow(session_id, *, countdown: float = 0) -> bool:
    """Hand the following to the broker, to start ``countdown`` seconds from now (the worker holds it until then);
    if the broker is down, the upload is checked once complete, as without following."""
    from apps.monitoring.tasks import follow_upload

    try:
        follow_upload.apply_async(args=[str(session_id)], countdown=countdown, retry=False)
    except Exception:  # noqa: BLE001 - following only saves time: the assembly does the same later
        logger.warning("broker unavailable; upload %s is checked once complete", session_id)
        return False
    return True


class _GaveUp(Exception):  # noqa: N818 - not an error: the follower leaves the file to the assembly
    """A part did not arrive in time, or the upload ended another way."""


class _Arrivals:
    """Waits in a follower for each part to be stored (its file on local disk: the web process renames a part
    into place only once its size and SHA-256 are checked), at most ``wait`` seconds each and ``WAITS`` times as
    long in all; ``_GaveUp`` then. A follower holds a worker slot while it waits: an upload that keeps it waiting
    (a slow link: the check keeps up with ease) is left to its assembly rather than hold it for an hour."""

    POLL_SECONDS = 0.02
    WAITS = 6

    def __init__(self, session: UploadSession, wait: float, *, claimed_at):
        self.session, self.wait, self.claimed_at = session, wait, claimed_at
        self.waited = 0.0

    def __call__(self, number: int) -> None:
        path, began = files.local_path(self.session.part_name(number)), time.monotonic()
        if os.path.exists(path):
            return
        while not os.path.exists(path):
            if time.monotonic() > began + self.wait:
                raise _GaveUp(f"part {number} did not arrive within {self.wait:g} s")
            time.sleep(self.POLL_SECONDS)
        self.waited += time.monotonic() - began
        if self.waited > self.WAITS * self.wait:
            raise _GaveUp(f"it waited {self.waited:.1f} s in all for parts")

    def completed(self) -> UploadSession:
        """The session once completed (its declared SHA-256 known); ``_GaveUp`` if it is not within the wait.
        The claim is renewed then, as the assembly's would start: the sweep frees a processing upload's claim
        older than the task lease (a follower of a long upload claimed it at its first part), and one freed and
        taken by an assembly is no longer this follower's."""
        deadline = time.monotonic() + self.wait
        while True:
            session = UploadSession.objects.select_related("version__model", "created_by").get(pk=self.session.pk)
            if session.state == UploadSession.State.PROCESSING:
                renewed = timezone.now()
                if not UploadSession.objects.filter(pk=session.pk, started_at=self.claimed_at).update(
                        started_at=renewed, heartbeat_at=renewed):
                    self.claimed_at = None
                    raise _GaveUp("the upload's assembly was handed to another worker")
                self.claimed_at = session.started_at = renewed
                return session
            if session.state != UploadSession.State.OPEN or time.monotonic() > deadline:
                raise _GaveUp(f"the upload is {session.state}, not completed")
            time.sleep(self.POLL_SECONDS)


def upload_follow(*, session_id) -> bool:
    """Check an upload while its parts still arrive, in order, as the assembly checks them once it is complete
    (``_ingest_parts``), so the check ends soon after the last part rather than starting then: over a network,
    where sending takes longer than checking, an evaluation is ``done`` about when its upload is. Asked when the
    first part is stored, to start ``PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS`` after the upload did (``_followable``).

    Claims the upload as an assembly does (``started_at``), so the assembly its completion queues finds it taken.
    What was read counts only if it is the file declared: once the upload is completed, the SHA-256 of every byte
    read must be the one declared; then the file is stored or refused as the assembly would. Otherwise (a part not
    stored within ``PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS`` of the one before, the upload not completed within as long
    after its last part, aborted or expired, a part sent again with other bytes, not CSV or JSON Lines) the
    follower gives up: it releases its claim, throws away what it made, and runs the assembly itself if the
    upload was completed meanwhile. Answers whether it stored or refused the file."""
    mine = timezone.now()
    claimed = UploadSession.objects.filter(pk=session_id, state=UploadSession.State.OPEN,
                                           started_at__isnull=True).update(started_at=mine, heartbeat_at=mine)
    if not claimed:
        return False
    session = UploadSession.objects.select_related("version__model", "created_by").get(pk=session_id)
    arrivals = _Arrivals(session, settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS, claimed_at=mine)
    finished = False
    try:
        # The claim is renewed at completion (a later started_at): the heartbeat keeps either alive.
        with services.heartbeat(UploadSession.objects.filter(pk=session_id, started_at__gte=mine)), \
                tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=_scratch(session)) as folder:
            finished = _yielding(_follow, session, folder, arrivals)
    except ClaimLost:
        logger.warning("upload %s: the follower's claim passed to another worker; it left the upload to it",
                       session_id)
        return False
    except _GaveUp as exc:
        logger.info("upload %s: the follower gave up (%s); it is checked once complete", session_id, exc)
    except Exception:  # noqa: BLE001 - the assembly checks the file from its parts as if nothing had been read
        logger.exception("upload %s: the follower failed; it is checked once complete", session_id)
    if finished:
        _delete_parts(session)
        return True
    return _release(session, arrivals.claimed_at)


# The follower's threads run at this niceness: while the parts arrive, the web processes receiving them (and, on
# one machine, the client sending them) come first; the follower takes the CPU they leave.
FOLLOW_NICENESS = 19


def _yielding(function, *args):
    """``function(*args)`` on a thread of its own at ``FOLLOW_NICENESS`` (the threads it starts inherit it; a
    thread's niceness cannot be lowered again without privileges, hence a thread of its own), with its own
    database connection, closed at its end. Its error is raised here."""
    outcome = {}

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no setpriority (not Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FOLLOW_NICENESS)
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="upload-follow")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _follow(session: UploadSession, folder: str, arrivals: _Arrivals) -> bool:
    """``_ingest_parts`` while the parts arrive; True once the file is stored or refused, False to leave it to
    the assembly (nothing written outside ``folder``)."""
    if shutil.disk_usage(folder).free < session.size_bytes * (DISK_FACTOR - 1):
        return False  # the assembly says so
    file_format = _first_part_format(session)
    if file_format not in ("csv", "jsonl"):
        return False
    read = _read_parts(session, folder, file_format, arrivals)
    completed = arrivals.completed()
    if read.digest != completed.sha256:
        raise _GaveUp("the parts read are not the file declared (a part was sent again?)")
    try:  # the file declared, checked: from here on the follower is its assembly
        if read.refusal is not None:
            _reject(completed, read.refusal)
        else:
            _store(completed, read.result, raw_path=read.raw, copy_path=read.copy, computed=read.computed)
    except ClaimLost:
        raise
    except Exception as exc:  # noqa: BLE001 - as upload_assemble does
        logger.exception("upload %s could not be assembled", session.pk)
        reason = str(exc)[:500] or type(exc).__name__
        _reject(completed, [Problem(None, (), f"the file could not be processed: {reason}")])
    return True


def _release(session: UploadSession, claimed_at) -> bool:
    """Give the follower's claim (``claimed_at``; None: lost to another) back; if the upload was completed
    meanwhile, its assembly found it taken: assemble it here (the row lock orders this with ``upload_complete``,
    so one of the two always sees the other)."""
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None or claimed_at is None or locked.started_at != claimed_at:
            return False
        locked.started_at = locked.heartbeat_at = None
        locked.save(update_fields=["started_at", "heartbeat_at"])
        completed = locked.state == UploadSession.State.PROCESSING
    return upload_assemble(session_id=session.pk) if completed else False


# --- Assembly (the worker) ------------------------------------------------------------------------------------


def upload_assemble(*, session_id) -> bool:
    """Assemble, verify and ingest a completed upload; safe to run twice (the first claim wins). The claim is
    renewed by a heartbeat while the worker works (``services.heartbeat``): a worker killed on the way (out of
    memory, a restart) falls silent, and the requeue sweep hands the upload to another (``requeue_stale_uploads``)
    within about a minute and a half instead of the task lease."""
    now = timezone.now()
    claimed = UploadSession.objects.filter(pk=session_id, state=UploadSession.State.PROCESSING,
                                           started_at__isnull=True).update(started_at=now, heartbeat_at=now,
                                                                           attempts=F("attempts") + 1)
    if not claimed:
        return False
    session = UploadSession.objects.select_related("version__model", "created_by").get(pk=session_id)
    try:
        with services.heartbeat(UploadSession.objects.filter(pk=session_id, started_at=now)):
            if settings.PORTAL_CHAOS_TASK_DELAY:
                time.sleep(settings.PORTAL_CHAOS_TASK_DELAY)  # chaos tests kill the worker here
            try:
                with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=_scratch(session)) as folder:
                    _assemble(session, folder)
            except (ClaimLost, OperationalError):
                raise
            except Exception as exc:  # noqa: BLE001 - the person learns why; the parts are deleted below either way
                logger.exception("upload %s could not be assembled", session_id)
                reason = str(exc)[:500] or type(exc).__name__
                _reject(session, [Problem(None, (), f"the file could not be processed: {reason}")])
    except ClaimLost:
        logger.warning("upload %s: the claim passed to another worker before this one ended; it left the upload "
                       "to it", session_id)
        return False
    except OperationalError:
        # the task's retry claims it again
        UploadSession.objects.filter(pk=session_id, started_at=now).update(started_at=None, heartbeat_at=None)
        raise
    _delete_parts(session)
    return True


def _scratch(session: UploadSession) -> str | None:
    """Where the assembly writes: beside the parts when they are on this machine's disk, so the checked file is
    moved into storage rather than copied (``storage.put_path``); the system's temporary folder otherwise."""
    folder = files.local_path(session.part_name(1))
    return os.path.dirname(folder) if folder else None


def _assemble(session: UploadSession, folder: str) -> None:
    """Route the file: a CSV or JSON Lines file is checked while its parts are read, hashed and copied, in one
    pass (``_ingest_parts``), whatever its size; a Parquet file (read from its footer) is assembled first, then
    checked batch by batch; anything else goes through the direct upload's services when within
    ``PORTAL_MAX_UPLOAD_MB`` (their checks name what it is), and is refused above it.

    Small CSV and JSON Lines files stream too, rather than take the direct upload's path: the file is read once
    instead of assembled and then read whole, and one set of checks answers whatever the size, so a file is not
    accepted at 199 MB and refused at 201 MB (a JSON column mixing numbers and text is refused with its row)."""
    free, needed = shutil.disk_usage(folder).free, int(session.size_bytes * (DISK_FACTOR - 1))
    if free < needed:  # the file and its copy would fill the disk half-way: say so now
        _reject(session, [Problem(None, (), f"the worker's disk has {free / 2**30:,.1f} GB free where it checks "
                                            f"files; this file needs about {needed / 2**30:,.1f} GB there (the file "
                                            "and its Parquet copy). Ask the administrator to free space, then "
                                            "upload it again.")])
        return
    if session.purpose == UploadSession.Purpose.LABELS:
        _ingest_labels(session, folder)
        return
    file_format = _first_part_format(session)
    if file_format in ("csv", "jsonl"):
        _ingest_parts(session, folder, file_format)
        return
    path = os.path.join(folder, "file")
    digest = _concatenate(session, path)
    if digest != session.sha256:
        _reject(session, [_digest_problem(session, digest)])
    elif file_format is None and session.size_bytes <= settings.PORTAL_MAX_UPLOAD_BYTES:
        _ingest_whole(session, path)
    else:
        _ingest_streaming(session, path, folder)


def _first_part_format(session: UploadSession) -> str | None:
    """The file's format, sniffed from the head of its first part; None for a JSON array, a compressed or an empty
    file: the direct upload's checks name it (or it is refused above ``PORTAL_MAX_UPLOAD_MB``)."""
    with files.open_file(session.part_name(1)) as part:
        head = part.read(ingest.SNIFF_BYTES)
    try:
        return streaming.sniff_format(head)
    except IngestError:
        return None


def _ingest_labels(session: UploadSession, folder: str) -> None:
    """Late labels: the file assembled, then checked in pieces and stored by
    ``services.evaluation_labels_add_file``; the evaluation is recomputed with them."""
    path = os.path.join(folder, "file")
    digest = _concatenate(session, path)
    if digest != session.sha256:
        _reject(session, [_digest_problem(session, digest)])
        return
    evaluation = Evaluation.objects.select_related("version__model").filter(
        pk=session.options.get("evaluation"), version=session.version).first()
    if evaluation is None:
        _reject(session, [Problem(None, (), "the evaluation these labels are for was deleted")])
        return
    try:
        batch = services.evaluation_labels_add_file(actor=session.created_by, evaluation=evaluation, path=path,
                                                    filename=session.filename, sha256=digest)
    except services.UploadRejected as exc:
        _reject(session, exc.problems)
        return
    except DomainError as exc:
        _reject(session, [Problem(None, (), exc.message)])
        return
    _complete(session, evaluation=evaluation, label_batch=batch)


def _digest_problem(session: UploadSession, digest: str) -> Problem:
    return Problem(None, (), f"the assembled file's SHA-256 is {digest}, not the {session.sha256} declared for the "
                             "upload; a part differs from the file. Start a new upload.")


class _Parts(io.RawIOBase):
    """An upload's parts in order as one binary stream; every byte read is hashed and written to ``copy`` by a
    thread (hashlib and file writes release the GIL), so both overlap the reader's parsing of what it read. At
    most the block being read and the one being hashed are in memory.

    The parts are read a whole block at a time into two buffers kept for the whole file, in turn: a new 32 MB block
    for every read is memory the system maps and zeroes each time (a page fault every 4 KB: at 1M rows about
    50,000 faults and 0.1-0.2 s of the worker's CPU). The buffers are page-aligned, so a part on local disk, written
    past the page cache by the web process, is read back past it too (``O_DIRECT``, ``_open_part``): through the
    cache, every page read is another page the kernel maps. The next block is read by a thread of its own while the
    reader parses this one (a direct read waits for the disk: 20-30 ms per 32 MB here)."""

    def __init__(self, session: UploadSession, copy, arrived=None):
        super().__init__()
        self.session, self.copy, self.size, self._sha256 = session, copy, 0, hashlib.sha256()
        self.arrived = arrived  # arrived(number) returns once that part is stored (``_Arrivals``), for a follower
        self.numbers, self.part, self.number, self.pending = iter(range(1, session.part_count + 1)), None, 0, None
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-hash")
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-read")
        self.blocks, self.turn = [mmap.mmap(-1, STREAM_BLOCK_BYTES), mmap.mmap(-1, STREAM_BLOCK_BYTES)], 0
        self.current, self.cursor = memoryview(b""), 0  # the block being handed out, and how far
        self.next = None  # the read of the block after it, into the other buffer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.cursor == len(self.current) and not self._load():
            return 0
        count = min(len(buffer), len(self.current) - self.cursor)
        buffer[:count] = self.current[self.cursor:self.cursor + count]
        self.cursor += count
        return count

    def _load(self) -> bool:
        """Take the next block (read ahead, or read now for the first), hand it to the hashing thread, and start
        reading the one after into the other buffer once the thread is done with it. False after the last part."""
        block = memoryview(self.blocks[self.turn])
        read = (self.next or self.reader.submit(self._read, block)).result()
        self.next = None
        if not read:
            return False
        self._wait()  # the thread is done with the other buffer: it may be read into
        self.pending = self.background.submit(self._keep, block[:read])
        self.turn = 1 - self.turn
        self.next = self.reader.submit(self._read, memoryview(self.blocks[self.turn]))
        self.size += read
        self.current, self.cursor = block[:read], 0
        return True

    def _read(self, block: memoryview) -> int:
        """The next bytes of the parts into ``block``: a whole block, or up to a part's end; 0 after the last."""
        while True:
            if self.part is None:
                self.number = next(self.numbers, None)
                if self.number is None:
                    return 0
                if self.arrived is not None:
                    self.arrived(self.number)
                self.part = _open_part(self.session.part_name(self.number))
            try:
                read = self.part.readinto(block)
            except OSError as exc:  # a direct read refused: read on through the cache from where it stopped
                if exc.errno != errno.EINVAL or not isinstance(self.part, io.FileIO):
                    raise
                position = self.part.tell()
                self.part.close()
                self.part = files.open_file(self.session.part_name(self.number))
                self.part.seek(position)
                continue
            if read:
                if read < len(block) and _at_end(self.part):  # a direct read from an unaligned end is refused
                    self.part.close()
                    self.part = None
                return read
            self.part.close()
            self.part = None

    def _keep(self, block: memoryview) -> None:
        self._sha256.update(block)
        self.copy.write(block)

    def _wait(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def drain(self) -> None:
        """Read what is left (after a refusal mid-file) so the digest is the whole file's."""
        while self.cursor < len(self.current) or self._load():
            self.cursor = len(self.current)

    def sha256(self) -> str:
        """The digest of everything read so far, once it is all hashed and written."""
        self._wait()
        return self._sha256.hexdigest()

    def close(self) -> None:
        self.reader.shutdown(wait=True)
        if self.part is not None:
            self.part.close()
        self.background.shutdown(wait=True)
        super().close()


def _at_end(part) -> bool:
    return isinstance(part, io.FileIO) and part.tell() >= os.fstat(part.fileno()).st_size


def _open_part(name: str):
    """A stored part open for reading: on local disk with ``O_DIRECT`` when the file system and the block size
    allow it (unbuffered, so reads go straight into the caller's aligned buffer), else through the storage."""
    path = files.local_path(name)
    if path is not None and STREAM_BLOCK_BYTES % UncachedFile.ALIGN == 0 and hasattr(os, "O_DIRECT"):
        try:
            return io.FileIO(os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT), "rb")
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return files.open_file(name)


def _ingest_parts(session: UploadSession, folder: str, file_format: str) -> None:
    """A CSV or JSON Lines file (``file_format``) of any size: checked and converted while its parts are read
    once, hashed and copied; stored only once the whole file's SHA-256 is the one declared and it passed."""
    read = _read_parts(session, folder, file_format)
    if read.digest != session.sha256:
        _reject(session, [_digest_problem(session, read.digest)])  # not the file declared: say that first
    elif read.refusal is not None:
        _reject(session, read.refusal)
    else:
        _store(session, read.result, raw_path=read.raw, copy_path=read.copy, computed=read.computed)


class _Read(NamedTuple):
    raw: str  # the file, in ``folder``
    copy: str  # its Parquet copy
    digest: str  # the SHA-256 of every byte read
    result: streaming.Streamed | None  # the check's, None if refused
    refusal: list | None  # the problems of a refused file
    computed: dict | None  # the metrics computed in the same pass (``_Metrics``)


def _read_parts(session: UploadSession, folder: str, file_format: str, arrived=None) -> _Read:
    """Read the parts once, in order (``arrived``: waiting for each, ``_Parts``), hashing and copying them into
    ``folder`` while the file is checked, its Parquet copy written and its metrics computed."""
    raw, copy = os.path.join(folder, "file"), os.path.join(folder, "copy.parquet")
    with UncachedFile(raw, block_bytes=STREAM_BLOCK_BYTES) as out, _Parts(session, out, arrived) as parts, \
            _Metrics(session) as metrics:
        try:
            result, refusal = _check(session, parts, copy, stream_format=file_format, metrics=metrics), None
        except IngestError as exc:
            result, refusal = None, exc.problems
        except DomainError as exc:
            result, refusal = None, [Problem(None, (), exc.message)]
        parts.drain()
        digest = parts.sha256()
        computed = metrics.result() if refusal is None else None
    return _Read(raw, copy, digest, result, refusal, computed)


def _concatenate(session: UploadSession, path: str) -> str:
    """Write the parts, in order, to ``path``; answers the SHA-256 of the whole."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for number in range(1, session.part_count + 1):
            with files.open_file(session.part_name(number)) as part:
                while block := part.read(BLOCK_BYTES):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _problems(problems) -> list[dict]:
    return [{"column": p.column, "rows": list(p.rows), "message": p.message} for p in problems]


class ClaimLost(Exception):  # noqa: N818 - not an error of the file: another worker has the upload now
    """The worker's claim on an upload was freed by the sweep (its heartbeat fell silent, or it overran the task
    lease) and may be another worker's: what this one made is not recorded (``_end``)."""


def _end(session: UploadSession, **fields) -> None:
    """Record the upload's end (``fields``, with ``finished_at``) if the claim ``session`` was read with
    (``started_at``) is still this worker's, in the caller's transaction; ``ClaimLost`` otherwise, which rolls back
    what the transaction made (the evaluation, reference data or label file recorded with it)."""
    fields["finished_at"] = timezone.now()
    if not UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.PROCESSING,
                                        started_at=session.started_at).update(**fields):
        raise ClaimLost(f"upload {session.pk}")
    for name, value in fields.items():
        setattr(session, name, value)


@transaction.atomic
def _reject(session: UploadSession, problems) -> None:
    error = "The file was rejected and nothing was stored: " + "; ".join(str(p) for p in problems[:5])
    _end(session, state=UploadSession.State.REJECTED, problems=_problems(problems), error=error)
    audit_record(actor=None, action="upload.rejected", obj=session, changes={"state": ["processing", "rejected"]},
                 reason=session.error[:2000])


@transaction.atomic
def _complete(session: UploadSession, *, evaluation: Evaluation | None = None,
              reference: ReferenceData | None = None, label_batch: LabelBatch | None = None) -> None:
    _end(session, state=UploadSession.State.COMPLETE, evaluation=evaluation, reference=reference,
         label_batch=label_batch)
    made = label_batch or evaluation or reference
    audit_record(actor=None, action="upload.completed", obj=session,
                 changes={"state": ["processing", "complete"], "result": [None, str(made)]})


def _columns(options: dict) -> dict:
    return {**services.DEFAULT_COLUMNS, **{k: v for k, v in (options.get("columns") or {}).items() if v}}


def _prediction_id(options: dict) -> str:
    """The column a production file without its target is joined to its labels by (older uploads: the default)."""
    return options.get("prediction_id_column") or services.DEFAULT_PREDICTION_ID


def _ingest_whole(session: UploadSession, path: str) -> None:
    """A file within the direct upload's limit: the direct upload's services, checks and answers."""
    with open(path, "rb") as handle:
        data = handle.read()
    options, actor = session.options, session.created_by
    try:
        if session.purpose == UploadSession.Purpose.REFERENCE:
            reference = services.reference_upload(actor=actor, version=session.version, data=data,
                                                  filename=session.filename)
            _complete(session, reference=reference)
            return
        evaluation, _ = services.evaluation_upload(
            actor=actor, version=session.version, data=data, filename=session.filename, kind=options["kind"],
            columns=_columns(options), sensitive_features=options.get("sensitive_features", []),
            positive_label=options.get("positive_label", "1"), prediction_id_column=_prediction_id(options))
    except services.UploadRejected as exc:
        _reject(session, exc.problems)
        return
    except DomainError as exc:
        _reject(session, [Problem(None, (), exc.message)])
        return
    _complete(session, evaluation=evaluation)


def _spec(session: UploadSession) -> dict | None:
    """What the streamed check needs to know of an evaluation's columns; None for reference data."""
    if session.purpose == UploadSession.Purpose.REFERENCE:
        return None
    options = session.options
    return {**_columns(options), "sensitive_features": list(options.get("sensitive_features", [])),
            "task_type": session.version.model.task_type, "positive_label": options.get("positive_label", "1"),
            "prediction_id": _prediction_id(options),
            "labels_later": options.get("kind") == Evaluation.Kind.PRODUCTION}


def _check(session: UploadSession, source, copy: str, stream_format: str = "csv",
           metrics: "_Metrics | None" = None) -> streaming.Streamed:
    require(session.created_by, Capability.UPLOAD_EVALUATION, session.version.model)
    limits = upload_limits()
    return streaming.check_and_convert(source, parquet_path=copy, spec=_spec(session),
                                       max_groups=settings.PORTAL_MAX_GROUPS_PER_FEATURE,
                                       block_bytes=STREAM_BLOCK_BYTES, max_value_bytes=limits.max_line_bytes,
                                       max_chunk_bytes=limits.max_decoded_bytes, stream_format=stream_format,
                                       observe=metrics.observe if metrics is not None and metrics.wanted else None)


class _Metrics:
    """An evaluation's metrics computed in the same pass as its streamed check (``batches.Following`` fed the
    checked batches), so its worker records it ``done`` at once instead of queueing a second read of the file: at
    1M rows the computation's own read and task took about 0.4 s after the evaluation was recorded, at 50M rows 17 s.

    Best effort: an error here is logged and the evaluation is queued for the computation as before (whose
    failure, if it fails again, is the one a person sees); it never refuses a file. The reference data is looked
    up before the check starts (the database is not used from the check's threads) and read with the first batch.
    """

    def __init__(self, session: UploadSession):
        self.session, self.following, self.failed = session, None, False
        self.wanted = session.purpose == UploadSession.Purpose.EVALUATION
        self.files, self.reference = contextlib.ExitStack(), None
        if self.wanted:
            try:
                self.reference = self.files.enter_context(services.reference_file(session.version))
            except Exception:  # noqa: BLE001 - as in observe
                logger.exception("upload %s: reference data unreadable; metrics queued instead", session.pk)
                self.wanted = False

    def __enter__(self) -> "_Metrics":
        return self

    def __exit__(self, *exc) -> None:
        self.files.close()

    def observe(self, table, described: dict) -> None:
        if self.failed:
            return
        try:
            if self.following is None:
                columns = _evaluation_columns(self.session, described)
                late = (labels.LateLabels([], id_column=columns["prediction_id"], target_column=columns["target"])
                        if described["labels_pending"] else None)
                self.following = batches.Following(task_type=self.session.version.model.task_type, columns=columns,
                                                   schema=table.schema, reference=self.reference, late=late)
            self.following.add(table)
        except Exception:  # noqa: BLE001 - the computation task computes it instead
            logger.exception("upload %s: metrics not computed with the check; queued instead", self.session.pk)
            self.failed = True

    def result(self) -> dict | None:
        """The metrics document, or None when the computation task is to compute it."""
        if self.failed or self.following is None:
            return None
        try:
            document, _ = self.following.result(self.session.version.model.fairness_reference_groups)
        except Exception:  # noqa: BLE001 - as in observe
            logger.exception("upload %s: metrics not computed with the check; queued instead", self.session.pk)
            return None
        return document


def _ingest_streaming(session: UploadSession, path: str, folder: str) -> None:
    """An assembled file (Parquet, or anything else above the direct upload's limit, which this refuses): checked
    batch by batch; stored only once it passed."""
    copy = os.path.join(folder, "copy.parquet")
    with _Metrics(session) as metrics:
        try:
            result = _check(session, path, copy, metrics=metrics)
        except IngestError as exc:
            _reject(session, exc.problems)
            return
        except DomainError as exc:
            _reject(session, [Problem(None, (), exc.message)])
            return
        computed = metrics.result()
    _store(session, result, raw_path=path, copy_path=copy, computed=computed)


def _store(session: UploadSession, result: streaming.Streamed, *, raw_path: str, copy_path: str,
           computed: dict | None = None) -> None:
    """Move (or copy, for a remote storage) the checked file and its Parquet copy into storage, then record; an
    evaluation whose metrics were ``computed`` with the check is recorded claimed by this worker, then stored
    ``done`` as the computation task would store it (queued for that task if storing fails)."""
    raw = storage.put_path(raw_path, digest=session.sha256, kind="raw", suffix=f".{result.file_format}")
    parquet = storage.put_path(copy_path, digest=result.parquet_sha256, kind="parquet", suffix=".parquet")
    if session.purpose == UploadSession.Purpose.REFERENCE:
        _record_reference(session, result=result, raw_path=raw, parquet_path=parquet)
        return
    evaluation = _record_evaluation(session, result=result, raw_path=raw, parquet_path=parquet,
                                    claimed=computed is not None)
    if computed is None:
        return
    mine = Evaluation.objects.filter(pk=evaluation.pk, status=Evaluation.Status.RUNNING,
                                     started_at=evaluation.started_at)
    try:
        services.store_metrics(evaluation, computed, mine=mine)
    except Exception:  # noqa: BLE001 - the evaluation is recorded: the computation task takes it from here
        logger.exception("upload %s: metrics computed with the check could not be stored; queued", session.pk)
        services.release(mine)
        services.enqueue(evaluation.pk)


@transaction.atomic
def _record_reference(session: UploadSession, *, result: streaming.Streamed, raw_path: str, parquet_path: str):
    reference = ReferenceData.objects.create(
        version=session.version, filename=session.filename, sha256=session.sha256, raw_path=raw_path,
        parquet_path=parquet_path, row_count=result.row_count, columns=result.columns, created_by=session.created_by)
    audit_record(actor=session.created_by, action="reference_data.uploaded", obj=session.version,
                 changes={"reference_sha256": [None, session.sha256], "rows": [None, result.row_count]})
    _complete(session, reference=reference)


def _evaluation_columns(session: UploadSession, described: dict, labels_found: Sequence[str] = ()) -> dict:
    """What each column of an uploaded evaluation is (``Evaluation.columns``), from the streamed check's
    ``described`` (score, timestamp, features, probability_columns, labels_pending) and the upload's options."""
    options, columns = session.options, _columns(session.options)
    found = {"target": columns["target"], "prediction": columns["prediction"], "score": described["score"],
             "timestamp": described["timestamp"], "sensitive_features": list(options.get("sensitive_features", [])),
             "features": list(described["features"]), "labels": list(labels_found),
             "probability_columns": dict(described["probability_columns"])}
    if described["labels_pending"]:
        found["prediction_id"] = _prediction_id(options)  # labels are joined to it later
    return found


@transaction.atomic
def _record_evaluation(session: UploadSession, *, result: streaming.Streamed, raw_path: str, parquet_path: str,
                       claimed: bool) -> Evaluation:
    """The evaluation, queued for its computation, or, when its metrics were computed with the check
    (``claimed``), claimed by this worker for storing them."""
    options = session.options
    described = _evaluation_columns(session, {
        "score": result.score_column, "timestamp": result.timestamp_column, "features": result.feature_columns,
        "probability_columns": result.probability_columns, "labels_pending": result.labels_pending}, result.labels)
    evaluation = Evaluation.objects.create(
        version=session.version, kind=options["kind"], filename=session.filename, file_format=result.file_format,
        sha256=session.sha256, size_bytes=session.size_bytes, raw_path=raw_path, parquet_path=parquet_path,
        row_count=result.row_count, columns=described, positive_label=str(options.get("positive_label", "1")),
        warnings=list(result.warnings), created_by=session.created_by,
        period_start=result.period[0], period_end=result.period[1],
        **(services.claimed_fields(timezone.now()) if claimed else {}))
    audit_record(actor=session.created_by, action="evaluation.uploaded", obj=evaluation,
                 changes={"sha256": [None, session.sha256], "rows": [None, result.row_count],
                          "kind": [None, options["kind"]]})
    _complete(session, evaluation=evaluation)
    if not claimed:
        transaction.on_commit(lambda: services.enqueue(evaluation.pk))
    return evaluation

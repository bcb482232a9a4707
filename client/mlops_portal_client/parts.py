"""Files too large for one request, sent in parts (the portal's ``/api/v1/uploads/`` protocol), resumably.

One pass over the file computes its SHA-256 and every part's, for the part size the portal is expected to fix
(``part_size``, default 64 MB as the portal's ``PORTAL_UPLOAD_PART_MB``; a portal answering another size costs a
second pass). The parts are then sent over ``concurrency`` connections at once, each read from disk by the thread
that sends it, not hashed again, and retried with back-off when the connection fails or the portal answers 5xx.
A small state file beside the file (``<file>.portal-upload.json``) remembers the upload and the portal's part
size: running the same command again after an interruption asks the portal which parts it has and sends only the
others. The state file is removed once the portal has the whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_portal_client.client import PortalClient

JSON = dict[str, Any]
BLOCK = 1024 * 1024
DEFAULT_PART_SIZE = 64 * 1024 * 1024
DEFAULT_CONCURRENCY = 2
# A checked file of a million rows is ready a second or two after ``complete``: look often for this long.
QUICK_POLL_SECONDS, QUICK_POLL_PAUSE = 5.0, 0.25
STATE_SUFFIX = ".portal-upload.json"
# Answers worth sending again: the portal or a proxy failed, or asked the client to slow down.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
WAITING = ("open", "processing")


def file_digests(path: Path, part_size: int, *, whole: bool = True) -> tuple[str | None, list[str]]:
    """One read of ``path``: the SHA-256 of the whole file (None unless ``whole``) and of each ``part_size`` part.

    Both digests see every byte; the whole file's is updated on a second thread while this one updates the part's
    (hashlib lets go of the GIL), so on two cores the pass costs about one SHA-256 of the file, not two.
    """
    file_digest, parts = hashlib.sha256(), []
    part, left = hashlib.sha256(), part_size
    with path.open("rb") as handle, ThreadPoolExecutor(max_workers=1) as helper:
        pending = None
        while block := handle.read(min(8 * BLOCK, left)):
            if whole:
                if pending is not None:
                    pending.result()
                pending = helper.submit(file_digest.update, block)
            part.update(block)
            left -= len(block)
            if not left:
                parts.append(part.hexdigest())
                part, left = hashlib.sha256(), part_size
        if pending is not None:
            pending.result()
    if left != part_size:
        parts.append(part.hexdigest())
    return (file_digest.hexdigest() if whole else None), parts


def state_path(path: Path) -> Path:
    return path.with_name(path.name + STATE_SUFFIX)


def _remembered_part_size(path: Path) -> int | None:
    """The part size the portal fixed for an earlier run on this file (a hint for hashing; checked afterwards)."""
    try:
        size = json.loads(state_path(path).read_text()).get("part_size")
    except (OSError, ValueError, AttributeError):
        return None
    return size if isinstance(size, int) and size > 0 else None


def _read_state(path: Path, fingerprint: Mapping[str, Any]) -> str | None:
    """The upload id remembered for this very file (same size, time, hash, portal and options), if any."""
    try:
        state = json.loads(state_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("fingerprint") != dict(fingerprint):
        return None
    upload = state.get("upload")
    return upload if isinstance(upload, str) else None


def _write_state(path: Path, fingerprint: Mapping[str, Any], upload: str, part_size: int) -> None:
    # A read-only folder: the upload still works, it just cannot be resumed by a new run.
    with contextlib.suppress(OSError):
        state_path(path).write_text(json.dumps({"upload": upload, "fingerprint": dict(fingerprint),
                                                "part_size": part_size}))


def _forget_state(path: Path) -> None:
    with contextlib.suppress(OSError):
        state_path(path).unlink()


def with_retries(call: Callable[[], JSON], *, retries: int, backoff: float) -> JSON:
    """``call()``, again after a transient failure (no connection, 5xx, 408, 429), waiting longer each time."""
    from mlops_portal_client.client import PortalError

    for attempt in range(retries + 1):
        try:
            return call()
        except PortalError as exc:
            if exc.status not in RETRY_STATUSES or attempt == retries:
                raise
        except TRANSIENT:
            if attempt == retries:
                raise
        time.sleep(min(backoff * 2**attempt, 30.0))
    raise AssertionError("unreachable")


class PartUploader:
    """One file to one portal in parts; ``send`` answers the upload once complete (its ``evaluation`` or
    ``reference``), or, with ``wait=False``, as soon as the portal has the whole file (state ``processing``).

    ``concurrency`` parts are sent at once, each on its own connection by its own thread: memory holds at most that
    many parts (``concurrency`` x the portal's part size, 128 MB by default). ``progress(parts_sent, parts)`` is
    called after each part, one call at a time, with counts that only grow.
    """

    def __init__(self, client: PortalClient, *, retries: int = 5, backoff: float = 0.5, poll: float = 1.0,
                 timeout: float = 3600, progress: Callable[[int, int], None] | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY, part_size: int = DEFAULT_PART_SIZE):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.client, self.retries, self.backoff, self.poll, self.timeout = client, retries, backoff, poll, timeout
        self.progress, self.concurrency, self.part_size = progress, concurrency, part_size

    def _call(self, method: str, path: str, **kwargs: Any) -> JSON:
        return with_retries(lambda: self.client._request(method, path, **kwargs), retries=self.retries,
                            backoff=self.backoff)

    def send(self, path: Path, fields: Mapping[str, Any], *, resume: str | None = None, wait: bool = True) -> JSON:
        """Start (or resume) the upload of ``path`` with ``fields`` (model_version, purpose, kind, columns ...)."""
        stat = path.stat()
        part_size = _remembered_part_size(path) or self.part_size
        sha256, digests = file_digests(path, part_size)
        fingerprint = {"url": self.client.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256,
                       "fields": dict(fields)}
        session = self._resumable(resume or _read_state(path, fingerprint))
        if session is None:
            session = self.client._json("POST", "/api/v1/uploads/", {
                **fields, "filename": path.name, "size": stat.st_size, "sha256": sha256})
            _write_state(path, fingerprint, session["id"], session["part_size"])
        if session["state"] == "open":
            if session["part_size"] != part_size:  # the portal fixed another size: hash its parts
                digests = file_digests(path, session["part_size"], whole=False)[1]
            self._send_parts(path, session, digests)
            session = self._call("POST", f"/api/v1/uploads/{session['id']}/complete/")
        _forget_state(path)
        return self._finished(session) if wait else session

    def _resumable(self, upload: str | None) -> JSON | None:
        """The upload to go on with: still open, or already handed to the worker; None to start afresh."""
        if not upload:
            return None
        from mlops_portal_client.client import PortalError

        try:
            session = self._call("GET", f"/api/v1/uploads/{upload}/")
        except PortalError as exc:
            if exc.status == 404:
                return None
            raise
        return session if session["state"] in (*WAITING, "complete") else None

    def _send_parts(self, path: Path, session: JSON, digests: list[str]) -> None:
        """The missing parts, ``concurrency`` at a time. A part that fails for good stops the parts not yet
        begun (those on their way finish, so a new run finds them received) and its error is raised."""
        total = session["parts"]
        missing = session.get("missing", list(range(1, total + 1)))
        sent, lock, failed = [total - len(missing)], threading.Lock(), threading.Event()

        def send_one(number: int) -> None:
            if failed.is_set():
                return
            with path.open("rb") as handle:
                handle.seek((number - 1) * session["part_size"])
                chunk = handle.read(session["part_size"])
            try:
                self._call("PUT", f"/api/v1/uploads/{session['id']}/parts/{number}/", body=chunk,
                           content_type="application/octet-stream", headers={"X-Part-SHA256": digests[number - 1]})
            except BaseException:
                failed.set()
                raise
            with lock:
                sent[0] += 1
                if self.progress:
                    self.progress(sent[0], total)

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="portal-part") as pool:
            futures = [pool.submit(send_one, number) for number in missing]
        for future in futures:
            future.result()  # the first part's error that failed, if any

    def _finished(self, session: JSON) -> JSON:
        """Poll until the worker made the evaluation (or reference data) or refused the file."""
        from mlops_portal_client.client import PortalError

        started = time.monotonic()
        pause = min(QUICK_POLL_PAUSE, self.poll)
        while session["state"] in WAITING and time.monotonic() < started + self.timeout:
            time.sleep(pause)
            if time.monotonic() - started > QUICK_POLL_SECONDS:
                pause = min(pause * 2, self.poll)  # a large file takes minutes: look less often
            session = self._call("GET", f"/api/v1/uploads/{session['id']}/")
        if session["state"] == "rejected":
            raise PortalError(400, {"detail": session.get("error") or "The file was rejected.",
                                    "problems": session.get("problems", [])})
        if session["state"] != "complete":
            raise PortalError(409, {"detail": f"The upload {session['id']} is {session['state']}."})
        return session

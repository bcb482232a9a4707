"""Files too large for one request, sent in parts (the portal's ``/api/v1/uploads/`` protocol), resumably.

The file is read once, in order: each part is hashed as it is read (its SHA-256 goes with it) while the whole
file's SHA-256 is updated on a second thread (hashlib lets go of the GIL), and the part is handed to one of
``concurrency`` connections that send parts at once, retried with back-off when the connection fails or the portal
answers 5xx. So the first part is on its way after one part is read, not after a pass over the whole file; the
whole file's SHA-256 is declared when the upload is completed. A small state file beside the file
(``<file>.portal-upload.json``) remembers the upload: running the same command again after an interruption asks the
portal which parts it has and sends only the others (the parts it has are read again, for the whole file's
SHA-256). The state file is removed once the portal has the whole file.
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


def state_path(path: Path) -> Path:
    return path.with_name(path.name + STATE_SUFFIX)


def _read_state(path: Path, fingerprint: Mapping[str, Any]) -> str | None:
    """The upload id remembered for this very file (same size, modification time, portal and options), if any."""
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

    ``concurrency`` parts are sent at once, each on its own connection by its own thread: memory holds at most one
    part more than that (the one being read and hashed; 192 MB with the defaults). ``progress(parts_sent, parts)``
    is called after each part, one call at a time, with counts that only grow.
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
        fingerprint = {"url": self.client.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "fields": dict(fields)}
        session = self._resumable(resume or _read_state(path, fingerprint))
        if session is None:
            session = self.client._json("POST", "/api/v1/uploads/", {
                **fields, "filename": path.name, "size": stat.st_size})
            _write_state(path, fingerprint, session["id"], session["part_size"])
        if session["state"] == "open":
            sha256 = self._send_parts(path, session)
            body = json.dumps({"sha256": sha256}).encode()
            session = self._call("POST", f"/api/v1/uploads/{session['id']}/complete/", body=body,
                                 content_type="application/json")
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

    def _send_parts(self, path: Path, session: JSON) -> str:
        """Read the file once, in order, sending the missing parts ``concurrency`` at a time; answers the whole
        file's SHA-256. A part that fails for good stops the reading (parts on their way finish, so a new run
        finds them received) and its error is raised."""
        total, part_size = session["parts"], session["part_size"]
        missing = set(session.get("missing", range(1, total + 1)))
        sent, lock, failed = [total - len(missing)], threading.Lock(), threading.Event()
        slots = threading.BoundedSemaphore(self.concurrency)
        whole = hashlib.sha256()

        def send_one(number: int, chunk: bytes, digest: str) -> None:
            try:
                if failed.is_set():
                    return
                self._call("PUT", f"/api/v1/uploads/{session['id']}/parts/{number}/", body=chunk,
                           content_type="application/octet-stream", headers={"X-Part-SHA256": digest})
            except BaseException:
                failed.set()
                raise
            finally:
                slots.release()
            with lock:
                sent[0] += 1
                if self.progress:
                    self.progress(sent[0], total)

        futures = []
        with (path.open("rb") as handle, ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-hash") as helper,
              ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="portal-part") as pool):
            hashing = None
            for number in range(1, total + 1):
                wanted = number in missing
                if wanted:
                    slots.acquire()  # at most ``concurrency`` parts on their way, and this one
                if failed.is_set():
                    if wanted:
                        slots.release()
                    break
                chunk = handle.read(part_size)
                if hashing is not None:
                    hashing.result()
                hashing = helper.submit(whole.update, chunk)
                if wanted:
                    futures.append(pool.submit(send_one, number, chunk, hashlib.sha256(chunk).hexdigest()))
            if hashing is not None:
                hashing.result()
        for future in futures:
            future.result()  # the first part's error that failed, if any
        return whole.hexdigest()

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

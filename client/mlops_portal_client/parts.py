"""Files too large for one request, sent in parts (the portal's ``/api/v1/uploads/`` protocol), resumably.

A first pass over the file computes its SHA-256; the portal fixes the part size; each part is read from disk,
sent alone with its own SHA-256 and retried with back-off when the connection fails or the portal answers 5xx,
so memory holds one part whatever the file's size. A small state file beside the file
(``<file>.portal-upload.json``) remembers the upload: running the same command again after an interruption
asks the portal which parts it has and sends only the others. The state file is removed once the portal
has the whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import time
import urllib.error
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_portal_client.client import PortalClient

JSON = dict[str, Any]
BLOCK = 1024 * 1024
STATE_SUFFIX = ".portal-upload.json"
# Answers worth sending again: the portal or a proxy failed, or asked the client to slow down.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
WAITING = ("open", "processing")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def state_path(path: Path) -> Path:
    return path.with_name(path.name + STATE_SUFFIX)


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


def _write_state(path: Path, fingerprint: Mapping[str, Any], upload: str) -> None:
    # A read-only folder: the upload still works, it just cannot be resumed by a new run.
    with contextlib.suppress(OSError):
        state_path(path).write_text(json.dumps({"upload": upload, "fingerprint": dict(fingerprint)}))


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
    """One file to one portal in parts; ``send`` answers the finished upload (its ``evaluation`` or ``reference``)."""

    def __init__(self, client: PortalClient, *, retries: int = 5, backoff: float = 0.5, poll: float = 1.0,
                 timeout: float = 3600, progress: Callable[[int, int], None] | None = None):
        self.client, self.retries, self.backoff, self.poll, self.timeout = client, retries, backoff, poll, timeout
        self.progress = progress

    def _call(self, method: str, path: str, **kwargs: Any) -> JSON:
        return with_retries(lambda: self.client._request(method, path, **kwargs), retries=self.retries,
                            backoff=self.backoff)

    def send(self, path: Path, fields: Mapping[str, Any], *, resume: str | None = None) -> JSON:
        """Start (or resume) the upload of ``path`` with ``fields`` (model_version, purpose, kind, columns ...)."""
        stat = path.stat()
        sha256 = file_sha256(path)
        fingerprint = {"url": self.client.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256,
                       "fields": dict(fields)}
        session = self._resumable(resume or _read_state(path, fingerprint))
        if session is None:
            session = self.client._json("POST", "/api/v1/uploads/", {
                **fields, "filename": path.name, "size": stat.st_size, "sha256": sha256})
            _write_state(path, fingerprint, session["id"])
        if session["state"] == "open":
            self._send_parts(path, session)
            session = self._call("POST", f"/api/v1/uploads/{session['id']}/complete/")
        _forget_state(path)
        return self._finished(session)

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

    def _send_parts(self, path: Path, session: JSON) -> None:
        part_size, total = session["part_size"], session["parts"]
        missing = session.get("missing", list(range(1, total + 1)))
        done = total - len(missing)
        with path.open("rb") as handle:
            for number in missing:
                handle.seek((number - 1) * part_size)
                chunk = handle.read(part_size)
                digest = hashlib.sha256(chunk).hexdigest()
                self._call("PUT", f"/api/v1/uploads/{session['id']}/parts/{number}/", body=chunk,
                           content_type="application/octet-stream", headers={"X-Part-SHA256": digest})
                done += 1
                if self.progress:
                    self.progress(done, total)

    def _finished(self, session: JSON) -> JSON:
        """Poll until the worker made the evaluation (or reference data) or refused the file."""
        from mlops_portal_client.client import PortalError

        deadline, pause = time.monotonic() + self.timeout, min(0.2, self.poll)
        while session["state"] in WAITING and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, self.poll)  # a small file is checked in a moment; a large one takes minutes
            session = self._call("GET", f"/api/v1/uploads/{session['id']}/")
        if session["state"] == "rejected":
            raise PortalError(400, {"detail": session.get("error") or "The file was rejected.",
                                    "problems": session.get("problems", [])})
        if session["state"] != "complete":
            raise PortalError(409, {"detail": f"The upload {session['id']} is {session['state']}."})
        return session

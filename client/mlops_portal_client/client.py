"""``PortalClient``: the portal's REST API over ``urllib``, authenticated with an API token.

    from mlops_portal_client import PortalClient
    client = PortalClient("http://127.0.0.1:8000", token)
    evaluation = client.upload_evaluation(12, "results.csv", sensitive_features=["sex"])
    client.wait(evaluation["id"])["metrics"]

A file on disk larger than ``chunk_threshold`` bytes (default 64 MB, the portal's part size) is sent in parts,
two at a time, and resumes after an interruption (``mlops_portal_client.parts``).
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mlops_portal_client.parts import DEFAULT_CONCURRENCY, PartUploader

JSON = dict[str, Any]
DEFAULT_CHUNK_THRESHOLD = 64 * 1024 * 1024
# A label file over this goes in parts: one request takes at most PORTAL_MAX_ROWS (2M) labels, and a row of a label
# file is at least a unique id, a delimiter, a label and a line end: a smaller file holds about 2M at most.
LABELS_CHUNK_THRESHOLD = 8 * 1024 * 1024
FINISHED = ("done", "failed")


class PortalError(Exception):
    """The portal refused the request; ``body`` holds its JSON answer (detail, field, problems)."""

    def __init__(self, status: int, body: JSON):
        self.status, self.body = status, body
        lines = [f"HTTP {status}: {body.get('detail', body)}"]
        if body.get("field"):
            lines[0] += f" (field {body['field']!r})"
        for problem in body.get("problems", []):
            rows = ", ".join(str(r) for r in problem.get("rows", []))
            where = f"column {problem.get('column')!r}" + (f", rows {rows}" if rows else "")
            lines.append(f"  - {where}: {problem['message']}")
        super().__init__("\n".join(lines))


def _multipart(fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                   f"Content-Type: {kind}\r\n\r\n".encode())
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def _payload(source: Any) -> tuple[str, bytes]:
    """(filename, bytes) from a path, raw bytes or a pandas DataFrame (sent as Parquet, or CSV without pyarrow)."""
    if hasattr(source, "to_parquet"):
        try:
            buffer = io.BytesIO()
            source.to_parquet(buffer, index=False)
            return "dataframe.parquet", buffer.getvalue()
        except ImportError:
            return "dataframe.csv", source.to_csv(index=False).encode()
    if isinstance(source, bytes):
        return "upload.csv", source
    path = Path(source)
    return path.name, path.read_bytes()


def file_sha256(path: str) -> str:
    """The SHA-256 of a file, read in 4 MB pieces (data sets registered by reference can be many GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _large_file(source: Any, threshold: int) -> Path | None:
    """The path of ``source`` when it is a file on disk over ``threshold`` bytes (sent in parts), else None."""
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    return path if path.stat().st_size > threshold else None


class PortalClient:
    """One portal, one token. Every method answers the API's JSON or raises ``PortalError``."""

    def __init__(self, url: str, token: str, *, timeout: float = 120):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"The portal URL must start with http:// or https://, not {url!r}")
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                 headers: Mapping[str, str] | None = None) -> JSON:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)  # noqa: S310 - http(s) only
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        if content_type:
            request.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = {"detail": raw.decode(errors="replace")[:500]}
            raise PortalError(exc.code, answer if isinstance(answer, dict) else {"detail": answer}) from None

    def _json(self, method: str, path: str, data: Mapping[str, Any]) -> JSON:
        return self._request(method, path, body=json.dumps(data).encode(), content_type="application/json")

    # --- Registration -------------------------------------------------------------------------------------

    def register_model(self, *, name: str, team: str, **fields: Any) -> JSON:
        """Register a model in ``team`` (its slug); ``fields`` are the API's others (use_case, purpose,
        accountable_owner, exposure, task_type, tags, intended_use, technical_owners, business_processes, ...).
        The portal requires an approved ``use_case`` by default; it fills the purpose and owner left out.
        Answers the model, with its ``slug``."""
        return self._json("POST", "/api/v1/models/", {"name": name, "team": team, **fields})

    def register_version(self, *, model: str, version: str, **fields: Any) -> JSON:
        """Register a version of the model ``model`` (its slug); ``fields``: algorithm, framework, artifact_uri,
        artifact_sha256, validation_metrics, validated_environment, hyperparameters, training_datasets."""
        return self._json("POST", "/api/v1/model-versions/", {"model": model, "version": version, **fields})

    def model(self, slug: str) -> JSON:
        return self._request("GET", f"/api/v1/models/{slug}/")

    def version(self, version_id: int) -> JSON:
        return self._request("GET", f"/api/v1/model-versions/{int(version_id)}/")

    # --- Governance ---------------------------------------------------------------------------------------

    def governance(self, *, model: str | None = None, version: int | None = None) -> JSON:
        """The stored governance state of a model (by slug) or a version (by id): status, health, approval,
        reasons and, for a version, ``gate_open``. Empty when the portal has not computed it yet."""
        if (model is None) == (version is None):
            raise ValueError("Name either a model or a version.")
        answer = self.model(model) if model is not None else self.version(version)  # type: ignore[arg-type]
        return answer.get("governance") or {}

    # --- Evaluations --------------------------------------------------------------------------------------

    def upload_evaluation(self, version: int, source: Any, *, kind: str = "validation",
                          sensitive_features: Iterable[str] = (), positive_label: str = "1",
                          target_column: str = "y_true", prediction_column: str = "y_pred",
                          score_column: str = "y_score", timestamp_column: str = "timestamp",
                          idempotency_key: str | None = None, prediction_id_column: str = "prediction_id",
                          chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD, resume: str | None = None,
                          progress: Callable[[int, int], None] | None = None,
                          concurrency: int = DEFAULT_CONCURRENCY, wait: bool = True) -> JSON:
        """Upload results; answers the evaluation (``wait`` for its metrics).

        A production file may leave out the target column when it has ``prediction_id_column``: drift is
        computed at once, performance once ``add_labels`` sends the outcomes (in parts too, of any length).

        A file over ``chunk_threshold`` bytes goes in parts, ``concurrency`` at once (memory holds that many
        parts): the answer comes once the portal assembled and checked it, or with ``wait=False`` as soon as the
        portal has the whole file, as the upload's JSON (``state`` ``processing``; ``GET /api/v1/uploads/{id}/``
        names the ``evaluation`` once it exists). ``resume`` names an upload to go on with (by default the state
        file beside the file does); ``progress(parts_sent, parts)`` is called after each part. A refused file
        raises ``PortalError`` (400).
        """
        path = _large_file(source, chunk_threshold)
        if path is not None:
            session = PartUploader(self, progress=progress, concurrency=concurrency).send(path, {
                "model_version": int(version), "purpose": "evaluation", "kind": kind,
                "sensitive_features": list(sensitive_features), "positive_label": str(positive_label),
                "target_column": target_column, "prediction_column": prediction_column,
                "score_column": score_column, "timestamp_column": timestamp_column,
                "prediction_id_column": prediction_id_column}, resume=resume, wait=wait)
            return self.evaluation(session["evaluation"]) if wait else session
        filename, data = _payload(source)
        fields = {"model_version": str(version), "kind": kind, "sensitive_features": ",".join(sensitive_features),
                  "positive_label": str(positive_label), "target_column": target_column,
                  "prediction_column": prediction_column, "score_column": score_column,
                  "timestamp_column": timestamp_column, "prediction_id_column": prediction_id_column}
        body, content_type = _multipart(fields, {"file": (filename, data)})
        # The same key on a retry makes the upload happen once even if the first answer was lost.
        key = idempotency_key or uuid.uuid4().hex
        return self._request("POST", "/api/v1/evaluations/", body=body, content_type=content_type,
                             headers={"Idempotency-Key": key})

    def register_evaluation(self, version: int, path: str, *, sha256: str | None = None, kind: str = "validation",
                            sensitive_features: Iterable[str] = (), positive_label: str = "1",
                            target_column: str = "y_true", prediction_column: str = "y_pred",
                            score_column: str = "y_score", timestamp_column: str = "timestamp") -> JSON:
        """Register a Parquet data set the portal reads where it is (a path under its PORTAL_DATA_ROOTS, as
        seen by the portal's worker, or an ``s3://bucket/key`` URL in its PORTAL_DATA_BUCKETS). Without
        ``sha256`` the file at ``path`` is hashed here, so it must be readable from this machine too (an
        s3:// URL needs ``sha256``); the worker checks the hash before computing."""
        if not sha256 and str(path).startswith("s3://"):
            raise ValueError("give the object's SHA-256 (sha256) for an s3:// URL: the client cannot read it to hash "
                             "it (e.g. aws s3 cp s3://bucket/key - | sha256sum)")
        digest = sha256 or file_sha256(path)
        return self._json("POST", "/api/v1/evaluations/by-reference/", {
            "model_version": int(version), "path": str(path), "sha256": digest, "kind": kind,
            "sensitive_features": list(sensitive_features), "positive_label": str(positive_label),
            "target_column": target_column, "prediction_column": prediction_column, "score_column": score_column,
            "timestamp_column": timestamp_column})

    def add_labels(self, evaluation_id: int, source: Any, *, chunk_threshold: int = LABELS_CHUNK_THRESHOLD,
                   resume: str | None = None, progress: Callable[[int, int], None] | None = None,
                   concurrency: int = DEFAULT_CONCURRENCY, wait: bool = True) -> JSON:
        """Send the outcomes of a production evaluation's predictions: a file (or DataFrame) of the prediction-id
        column and the target column; the evaluation is then recomputed (``wait`` for it). Answers the stored label
        batch.

        A file on disk over ``chunk_threshold`` bytes (default 8 MB: one request takes at most the portal's
        PORTAL_MAX_ROWS labels) goes in parts, resumably, and any number of labels is checked by a worker: the
        answer is then the finished upload, whose ``label_batch`` is the label batch's id (with ``wait=False``, the
        upload as soon as the portal has the whole file). A refused file raises ``PortalError`` (400) either way.
        """
        path = _large_file(source, chunk_threshold)
        if path is not None:
            version = self.evaluation(evaluation_id)["model_version"]
            return PartUploader(self, progress=progress, concurrency=concurrency).send(
                path, {"model_version": int(version), "purpose": "labels", "evaluation": int(evaluation_id)},
                resume=resume, wait=wait)
        filename, data = _payload(source)
        body, content_type = _multipart({}, {"file": (filename, data)})
        return self._request("POST", f"/api/v1/evaluations/{int(evaluation_id)}/labels/", body=body,
                             content_type=content_type)

    def upload_reference(self, version: int, source: Any, *, chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
                         resume: str | None = None, concurrency: int = DEFAULT_CONCURRENCY, wait: bool = True) -> JSON:
        """Upload reference features; a file over ``chunk_threshold`` bytes goes in parts, ``concurrency`` at once,
        and answers the finished upload (its ``reference`` is the reference data's id), or with ``wait=False`` the
        upload as soon as the portal has the whole file (``state`` ``processing``)."""
        path = _large_file(source, chunk_threshold)
        if path is not None:
            return PartUploader(self, concurrency=concurrency).send(
                path, {"model_version": int(version), "purpose": "reference"}, resume=resume, wait=wait)
        filename, data = _payload(source)
        body, content_type = _multipart({}, {"file": (filename, data)})
        return self._request("POST", f"/api/v1/model-versions/{int(version)}/reference/", body=body,
                             content_type=content_type)

    def evaluation(self, evaluation_id: int) -> JSON:
        return self._request("GET", f"/api/v1/evaluations/{int(evaluation_id)}/")

    def wait(self, evaluation_id: int, *, timeout: float = 600, interval: float = 1.0) -> JSON:
        """Poll until the worker has finished (``done`` or ``failed``); after ``timeout`` seconds answer the
        evaluation as it stands (still ``queued`` or ``running``)."""
        deadline = time.monotonic() + timeout
        while True:
            evaluation = self.evaluation(evaluation_id)
            if evaluation["status"] in FINISHED or time.monotonic() > deadline:
                return evaluation
            time.sleep(interval)

"""A small client for data scientists: upload evaluation results and reference data to the portal.

Needs only the standard library (and pandas when a DataFrame is passed from Python).

Command line::

    python -m mlops_portal.client upload --url http://127.0.0.1:8000 --token TOKEN --version 12 results.csv
    python -m mlops_portal.client upload ... --kind production --sensitive-features sex,age_band --wait
    python -m mlops_portal.client reference --url ... --token ... --version 12 training_features.parquet
    python -m mlops_portal.client status --url ... --token ... 345

From Python::

    from mlops_portal.client import PortalClient
    client = PortalClient("http://127.0.0.1:8000", token)
    evaluation = client.upload_evaluation(12, dataframe, kind="validation", sensitive_features=["sex"])
    client.wait(evaluation["id"])["metrics"]
"""

import argparse
import io
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


class PortalError(Exception):
    """The portal refused the request; ``body`` holds its JSON answer (detail, problems)."""

    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        lines = [f"HTTP {status}: {body.get('detail', body)}"]
        for problem in body.get("problems", []):
            rows = ", ".join(str(r) for r in problem.get("rows", []))
            where = f"column {problem.get('column')!r}" + (f", rows {rows}" if rows else "")
            lines.append(f"  - {where}: {problem['message']}")
        super().__init__("\n".join(lines))


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
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


def _payload(source) -> tuple[str, bytes]:
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


class PortalClient:
    def __init__(self, url: str, token: str, *, timeout: float = 120):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"The portal URL must start with http:// or https://, not {url!r}")
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                 headers: dict | None = None) -> dict:
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

    def upload_evaluation(self, version: int, source, *, kind: str = "validation", sensitive_features=(),
                          positive_label: str = "1", target_column: str = "y_true", prediction_column: str = "y_pred",
                          score_column: str = "y_score", timestamp_column: str = "timestamp",
                          idempotency_key: str | None = None) -> dict:
        filename, data = _payload(source)
        fields = {"model_version": str(version), "kind": kind, "sensitive_features": ",".join(sensitive_features),
                  "positive_label": str(positive_label), "target_column": target_column,
                  "prediction_column": prediction_column, "score_column": score_column,
                  "timestamp_column": timestamp_column}
        body, content_type = _multipart(fields, {"file": (filename, data)})
        # The same key on a retry makes the upload happen once even if the first answer was lost.
        key = idempotency_key or uuid.uuid4().hex
        return self._request("POST", "/api/v1/evaluations/", body=body, content_type=content_type,
                             headers={"Idempotency-Key": key})

    def upload_reference(self, version: int, source) -> dict:
        filename, data = _payload(source)
        body, content_type = _multipart({}, {"file": (filename, data)})
        return self._request("POST", f"/api/v1/model-versions/{version}/reference/", body=body,
                             content_type=content_type)

    def evaluation(self, evaluation_id: int) -> dict:
        return self._request("GET", f"/api/v1/evaluations/{evaluation_id}/")

    def wait(self, evaluation_id: int, *, timeout: float = 600, interval: float = 1.0) -> dict:
        """Poll until the worker has finished (done or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            evaluation = self.evaluation(evaluation_id)
            if evaluation["status"] in ("done", "failed") or time.monotonic() > deadline:
                return evaluation
            time.sleep(interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_portal.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PORTAL_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("PORTAL_TOKEN"),
                        help="API token (or PORTAL_TOKEN); create one with manage.py create_api_token")
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload evaluation results")
    upload.add_argument("--version", type=int, required=True, help="model version id")
    upload.add_argument("--kind", choices=["validation", "production"], default="validation")
    upload.add_argument("--sensitive-features", default="", help="comma-separated column names")
    upload.add_argument("--positive-label", default="1")
    for column, default in (("target", "y_true"), ("prediction", "y_pred"), ("score", "y_score"),
                            ("timestamp", "timestamp")):
        upload.add_argument(f"--{column}-column", default=default)
    upload.add_argument("--idempotency-key")
    upload.add_argument("--wait", action="store_true", help="wait for the metrics and print them")
    upload.add_argument("file")
    reference = commands.add_parser("reference", help="upload a version's reference (training) features")
    reference.add_argument("--version", type=int, required=True)
    reference.add_argument("file")
    status = commands.add_parser("status", help="show an evaluation")
    status.add_argument("evaluation_id", type=int)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or PORTAL_TOKEN) is required")
    client = PortalClient(args.url, args.token)
    try:
        if args.command == "upload":
            result = client.upload_evaluation(
                args.version, args.file, kind=args.kind,
                sensitive_features=[s.strip() for s in args.sensitive_features.split(",") if s.strip()],
                positive_label=args.positive_label, target_column=args.target_column,
                prediction_column=args.prediction_column, score_column=args.score_column,
                timestamp_column=args.timestamp_column, idempotency_key=args.idempotency_key)
            if args.wait:
                result = client.wait(result["id"])
        elif args.command == "reference":
            result = client.upload_reference(args.version, args.file)
        else:
            result = client.evaluation(args.evaluation_id)
    except PortalError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"Cannot reach the portal at {args.url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0 if result.get("status") != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())

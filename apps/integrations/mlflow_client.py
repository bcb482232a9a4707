"""The portal's side of MLflow's REST API (``/api/2.0/mlflow/...`` and ``/api/2.0/mlflow-artifacts/...``).

Standard library only: the portal never imports MLflow. Every call has a timeout, and every failure is an
``MlflowError`` whose message says what to check (the URL, the credentials, the server's answer).
"""

import base64
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MAX_ARTIFACT_BYTES = 1_000_000  # environment files and MLmodel are a few kB; a model file is never read
VERSIONS_PAGE = 200


class MlflowError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Credentials:
    kind: str = "none"  # none | bearer | basic
    secret: str = ""  # a token, or "user:password" for basic

    def header(self) -> str:
        if self.kind == "bearer" and self.secret:
            return f"Bearer {self.secret}"
        if self.kind == "basic" and self.secret:
            return "Basic " + base64.b64encode(self.secret.encode()).decode()
        return ""


def artifact_path(uri: str) -> str | None:
    """The path under the artifacts endpoint of an ``mlflow-artifacts:`` URI; None for any other store."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "mlflow-artifacts":
        return None
    return parsed.path.lstrip("/")


class MlflowClient:
    def __init__(self, base_url: str, credentials: Credentials | None = None, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials or Credentials()
        self.timeout = timeout

    def _request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                 limit: int | None = None) -> tuple[int, bytes]:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        headers = {"Accept": "application/json"}
        if self.credentials.header():
            headers["Authorization"] = self.credentials.header()
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read(limit + 1 if limit else -1)
                if limit and len(payload) > limit:
                    raise MlflowError(f"{path} is larger than {limit:,} bytes; the portal does not read it.")
                return response.status, payload
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            if exc.code in (401, 403):
                raise MlflowError(f"MLflow refused the credentials (HTTP {exc.code}); check the token or the "
                                  "user and password, or the environment variable that holds them.", exc.code) from exc
            raise MlflowError(f"MLflow answered HTTP {exc.code} to {path}: {str(detail)[:300]}", exc.code) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MlflowError(f"Cannot reach MLflow at {self.base_url}: {reason}. Check the URL and that the "
                              "server is running.") from exc

    def _json(self, method: str, path: str, **kwargs) -> dict:
        _status, payload = self._request(method, path, **kwargs)
        try:
            return json.loads(payload or b"{}")
        except ValueError as exc:
            raise MlflowError(f"{path} did not answer JSON; is {self.base_url} an MLflow tracking server?") from exc

    # --- Registry reads ---------------------------------------------------------------------------

    def search_registered_models(self, *, page_token: str = "", max_results: int = 100) -> dict:
        return self._json("GET", f"{API}/registered-models/search",
                          params={"max_results": max_results, "page_token": page_token, "order_by": "name ASC"})

    def versions_of(self, name: str) -> list[dict]:
        escaped = name.replace("'", "\\'")
        found, token = [], ""
        while True:
            page = self._json("GET", f"{API}/model-versions/search",
                              params={"filter": f"name='{escaped}'", "max_results": VERSIONS_PAGE, "page_token": token})
            found += page.get("model_versions", [])
            token = page.get("next_page_token", "")
            if not token:
                return found

    def version(self, name: str, version: str) -> dict:
        answer = self._json("GET", f"{API}/model-versions/get", params={"name": name, "version": version})
        return answer["model_version"]

    def download_uri(self, name: str, version: str) -> str:
        return self._json("GET", f"{API}/model-versions/get-download-uri",
                          params={"name": name, "version": version}).get("artifact_uri", "")

    def run(self, run_id: str) -> dict:
        return self._json("GET", f"{API}/runs/get", params={"run_id": run_id}).get("run", {})

    def artifact(self, path: str) -> str | None:
        """A small text artifact through the server's artifact proxy; None when it does not exist."""
        quoted = urllib.parse.quote(path)
        try:
            _status, payload = self._request("GET", f"{ARTIFACTS}/{quoted}", limit=MAX_ARTIFACT_BYTES)
        except MlflowError as exc:
            if exc.status == 404:
                return None
            raise
        return payload.decode("utf-8", errors="replace")

    # --- Writes ---------------------------------------------------------------------------------

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._json("POST", f"{API}/model-versions/set-tag",
                   body={"name": name, "version": version, "key": key, "value": value})

    def check(self) -> int:
        """A connection test: reads one page of the registry; returns how many models it listed."""
        return len(self.search_registered_models(max_results=10).get("registered_models", []))

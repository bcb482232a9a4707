"""A real ``mlflow server`` for the MLflow sync's tests, in its own virtualenv, never imported here.

The virtualenv and the server are bench/mlflow_compare.py's (``make bench-mlflow``): the MLflow pinned in the
``bench`` extra of pyproject.toml, in ``var/bench-mlflow-venv`` (``PORTAL_MLFLOW_VENV`` names another), created on
first use from PyPI. The server runs once per test session on a free loopback port, with a SQLite store and
artifacts served through it (``--serve-artifacts``) in a temporary folder. Tests act in MLflow as a data
scientist would, with the MLflow client in that virtualenv (``mlflow_actions.py`` in a subprocess).
"""

import importlib.util
import json
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mlflow_compare", ROOT / "bench" / "mlflow_compare.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ACTIONS = Path(__file__).with_name("mlflow_actions.py")


@dataclass
class Mlflow:
    url: str
    python: Path

    def act(self, *actions: dict) -> list:
        """Run the actions with the MLflow client in its own virtualenv; their results."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "DATABASE_"))}
        done = subprocess.run([str(self.python), str(ACTIONS), self.url, json.dumps(list(actions))],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def rest(self, method: str, path: str, body: dict) -> dict:
        """A call of MLflow's REST API (``/api/2.0/mlflow/...``), as any other MLflow client makes: quicker than
        starting its Python client for one alias."""
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),  # noqa: S310 (loopback)
                                         method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            return json.loads(response.read() or b"{}")

    def alias(self, name: str, alias: str, version: str) -> None:
        self.rest("POST", "registered-models/alias", {"name": name, "alias": alias, "version": version})

    def unalias(self, name: str, alias: str) -> None:
        self.rest("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    @staticmethod
    def unique(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    venv = Path(os.environ.get("PORTAL_MLFLOW_VENV", bench.MLFLOW_VENV))
    started = time.monotonic()
    bench.ensure_mlflow(venv, bench.mlflow_requirement())
    print(f"\n# MLflow virtualenv ready in {time.monotonic() - started:.0f} s ({venv})")
    folder = tmp_path_factory.mktemp("mlflow")
    port = bench.free_port()
    started = time.monotonic()
    process = bench.start_mlflow(venv, folder, port, serve_artifacts=True)
    print(f"# mlflow server answering in {time.monotonic() - started:.0f} s")
    try:
        yield Mlflow(url=f"http://127.0.0.1:{port}", python=venv / "bin" / "python")
    finally:
        bench.stop(process)

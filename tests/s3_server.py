"""A real S3 HTTP endpoint on loopback for tests: moto's server, in a process of its own.

The portal reaches it through boto3 (django-storages, ``monitoring.datasets``) exactly as it would reach AWS
or MinIO. ``tests/conftest.py`` starts one per test module that asks for ``s3_endpoint``.
"""

import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import boto3
import pytest

from tests.celery_helpers import ROOT

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "portal-test",
    "AWS_SECRET_ACCESS_KEY": "portal-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def s3_server():
    """(url, boto3 client) of a fresh, empty S3 server; stopped on exit."""
    port = _free_port()
    log_dir = ROOT / "var" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "s3-server.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # moto loads every service it emulates: slow on a busy machine
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the S3 server did not start")
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    try:
        yield url, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)

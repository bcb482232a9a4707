"""Start real Celery worker and beat processes against the test database."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (the test copy, not the real one)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)


@contextmanager
def celery_process(*args: str, log_name: str, env: dict | None = None):
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(env or {})}
    log_dir = ROOT / "var" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{log_name}.log"
    with open(log_path, "w") as log:
        # Its own process group, so a test can kill the worker and its pool children at once.
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "mlops_portal", *args],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker(log_name: str = "worker", env: dict | None = None, concurrency: int = 1, queues: str = ""):
    """A worker consuming every configured queue, or only ``queues`` (comma-separated, as ``-Q`` takes them)."""
    only = ("-Q", queues) if queues else ()
    return celery_process("worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--without-mingle",
                          "--without-gossip", "-n", f"test-{os.getpid()}-{log_name}@%h", *only,
                          log_name=log_name, env=env)


def wait_for(predicate, *, timeout: float, what: str, log_path: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    log = log_path.read_text()[-4000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n--- process log ---\n{log}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    """A private, throw-away Redis (no persistence: a restart loses every queued message, like a crash)."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(lambda: _answers(port), timeout=10, what=f"redis-server on port {port}")
    return proc


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis(port: int | None = None):
    """Yield (port, state): ``state["proc"]`` is the running redis-server, which a test may kill and replace."""
    port = port or free_port()
    state = {"proc": start_redis(port)}
    try:
        yield port, state
    finally:
        state["proc"].kill()
        state["proc"].wait()


@contextmanager
def publishing_to(broker_url: str):
    """Point this process's Celery producer at another broker (e.g. a private Redis), then back."""
    from django.conf import settings
    from kombu import pools

    from mlops_portal.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options

    def reset_pools():
        # kombu keeps connection pools in a registry keyed by URL: empty it, not just the app's references.
        app._pool = None
        app.amqp._producer_pool = None
        pools.reset()

    reset_pools()
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = broker_url  # Celery reads it before its configuration
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {"socket_connect_timeout": 2, "socket_timeout": 5, "max_retries": 1,
                                         "interval_start": 0, "interval_step": 0.2,
                                         **({} if settings.CELERY_BROKER_URL.startswith("filesystem") else
                                            settings.CELERY_BROKER_TRANSPORT_OPTIONS)}
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url, app.conf.broker_transport_options = saved
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env

"""End-to-end upload benchmark: `.venv/bin/python bench/e2e_bench.py [--rows 1000000 ...]` (`make bench-e2e`).

What a data scientist waits for (issue 17, item 3), through the production shape on loopback: the documented
stdlib client sends an evaluation file to gunicorn (DEBUG off), a real Celery worker computes it, PostgreSQL
and Redis in between. For each size:

1. a binary evaluation (labels, scores, two sensitive attributes, 20 numeric and 5 categorical features, as in
   `monitoring_bench.py`) is written as CSV to a temporary folder, a million rows at a time;
2. the reference: `pandas.read_csv` of that file, best of three, in this run;
3. the upload: the clock starts when the client is called (it reads the file itself) and stops when the API
   answers; then the client polls the evaluation until it is `done`.

Prints a markdown table with both times and their ratios to `read_csv` (issue targets: answered within
1.5x, done within 3x). Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (override with
BENCH_POSTGRES_URL, BENCH_REDIS_URL). Files over the portal's single-request limit are sent with the limit
raised to fit (`PORTAL_MAX_UPLOAD_MB`), and the table says so.
"""

import argparse
import gc
import http.client
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "client")]

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
DATABASE = f"portal_bench_e2e_{os.getpid()}"
CHUNK_ROWS = 1_000_000
TARGETS = {"answered": 1.5, "done": 3.0}


def admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def write_evaluation(path: Path, rows: int) -> None:
    """The CSV, written a million rows at a time so 10 or 50 million never sit in memory at once."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from monitoring_bench import generate

    writer = None
    try:
        for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
            table = pa.Table.from_pandas(generate(min(CHUNK_ROWS, rows - start), seed=number, shift=0.0),
                                         preserve_index=False)
            if writer is None:
                writer = pa_csv.CSVWriter(str(path), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def read_csv_seconds(path: Path) -> float:
    import pandas as pd

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        frame = pd.read_csv(path)
        best = min(best, time.perf_counter() - started)
        del frame
        gc.collect()
    return best


def environment(scratch: Path, max_upload_mb: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlops_portal.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; a proxy terminates TLS in production
        "DATABASE_URL": urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{DATABASE}")),
        "CELERY_BROKER_URL": REDIS,
        "PORTAL_VAR_DIR": str(scratch),
        "DJANGO_STATIC_ROOT": str(scratch / "static"),
        "PORTAL_LOG_LEVEL": "WARNING",
        "PORTAL_MAX_UPLOAD_MB": str(max_upload_mb),
    }


def prepare() -> tuple[int, str]:
    """Migrate, then a data scientist with an API token and a model version of theirs."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from apps.core.services import api_token_issue
    from tests.factories import UserFactory
    from tests.inventory.factories import MLModelFactory, ModelVersionFactory

    call_command("migrate", verbosity=0)
    scientist = UserFactory(username="bench-scientist", roles=["data_scientist"])
    model = MLModelFactory()
    model.team.members.add(scientist)
    version = ModelVersionFactory(model=model)
    token = api_token_issue(user=scientist).key
    connections.close_all()
    return version.pk, token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
        return conn.getresponse().status == 200
    except OSError:
        return False


def measure(client, version: int, path: Path) -> tuple[float, float, dict]:
    started = time.perf_counter()
    answer = client.upload_evaluation(version, path, kind="production", sensitive_features=["sex", "region"])
    answered = time.perf_counter() - started
    evaluation = answer
    while evaluation["status"] not in ("done", "failed"):
        time.sleep(0.05)
        evaluation = client.evaluation(answer["id"])
    return answered, time.perf_counter() - started, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="portal-e2e-bench-"))
    sizes = {}
    for rows in args.rows:
        path = scratch / f"evaluation-{rows}.csv"
        write_evaluation(path, rows)
        sizes[rows] = path
    largest_mb = max(path.stat().st_size for path in sizes.values()) // 2**20 + 1
    env = environment(scratch, max(200, largest_mb))
    os.environ.update(env)
    admin(f'CREATE DATABASE "{DATABASE}"')
    processes = []
    results = []
    try:
        version, token = prepare()
        port = free_port()
        processes.append(start([str(Path(sys.executable).with_name("gunicorn")), "mlops_portal.wsgi:application",
                                "--config", "mlops_portal/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
                                "--workers", str(args.gunicorn_workers), "--timeout", "600"],
                               env, scratch / "gunicorn.log"))
        processes.append(start([sys.executable, "-m", "celery", "-A", "mlops_portal", "worker", "--concurrency", "1",
                                "--loglevel", "WARNING", "-n", "bench-e2e@%h"], env, scratch / "worker.log"))
        wait_until(lambda: answers(port), "gunicorn to answer /healthz")
        from mlops_portal_client import PortalClient

        client = PortalClient(f"http://127.0.0.1:{port}", token, timeout=3600)
        for rows, path in sizes.items():
            reference = read_csv_seconds(path)
            answered, done, evaluation = measure(client, version, path)
            if evaluation["status"] != "done":
                raise SystemExit(f"the evaluation of {rows:,} rows failed: {evaluation.get('error')}")
            results.append((rows, path.stat().st_size, reference, answered, done))
    finally:
        for proc in processes:
            stop(proc)
        admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n## End to end: upload through gunicorn to `done` by a real worker\n")
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}; PostgreSQL + Redis; gunicorn {args.gunicorn_workers} sync workers, "
          f"1 Celery worker; PORTAL_MAX_UPLOAD_MB={env['PORTAL_MAX_UPLOAD_MB']}\n")
    print("| rows | file | pandas.read_csv | upload answered | ratio | done | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for rows, size, reference, answered, done in results:
        print(f"| {rows:,} | {size / 2**20:,.0f} MB | {reference:.2f} s | {answered:.2f} s | "
              f"{answered / reference:.1f}x (target {TARGETS['answered']}x) | {done:.2f} s | "
              f"{done / reference:.1f}x (target {TARGETS['done']}x) |")


if __name__ == "__main__":
    main()

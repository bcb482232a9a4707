"""Heavy-queue benchmark: `.venv/bin/python bench/queue_bench.py [--models 500] [--rows 20000]` (`make bench-queue`).

The nightly metric windows of a production portfolio (issue 17, item 8), recomputed by real Celery workers
that consume only the heavy queue, through PostgreSQL and Redis (the production shape; SQLite serialises
writers, so it cannot show parallel throughput):

1. a throw-away PostgreSQL database gets ``--models`` production models, each with one production evaluation
   of ``--rows`` rows spread over six months (one upload computed for real; the others share its stored
   Parquet copy, so seeding takes seconds, and every version's windows do the same work);
2. one version's windows are computed in this process: the expected count, and the in-process time a version
   costs, for reference;
3. beat's nightly task (``monitoring.compute_due_windows``) fans out one task per version to the heavy queue,
   consumed by 1 worker process and then, from scratch, by 2 (each ``--concurrency 1``, as two machines would
   run them); the time from the fan-out to the last window stored is the result.

Prints a markdown table: the time with 1 and 2 workers, the speed-up, and the in-process estimate.
Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as CI has them); override with
BENCH_POSTGRES_URL and BENCH_REDIS_URL.
"""

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
DATABASE = f"portal_bench_queue_{os.getpid()}"
NOW = datetime.now(UTC)


def configure(media: Path) -> None:
    """Environment shared with the worker processes: the bench database, Redis and one media folder."""
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "mlops_portal.settings",
        "DATABASE_URL": urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{DATABASE}")),
        "CELERY_BROKER_URL": REDIS,
        "PORTAL_VAR_DIR": str(media.parent),
        "PORTAL_MEDIA_ROOT": str(media),
    })


def admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def evaluation_file(rows: int) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(17)
    y = rng.integers(0, 2, rows)
    score = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, rows), 0, 1).round(6)
    stamps = NOW - timedelta(days=180) + pd.to_timedelta(rng.uniform(0, 178 * 86400, rows), unit="s")
    frame = pd.DataFrame({"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score,
                          "sex": rng.choice(["female", "male"], rows), "region": rng.choice(list("NSEW"), rows),
                          "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                          **{f"x{i}": rng.normal(0, 1, rows).round(4) for i in range(10)}})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def seed(models: int, rows: int) -> list:
    """``models`` production versions, each with the same production evaluation (computed once)."""
    from apps.inventory.models import ModelVersion, Stage
    from apps.monitoring import services
    from apps.monitoring.models import Evaluation
    from tests.inventory.factories import MLModelFactory, ModelVersionFactory

    versions = [ModelVersionFactory(model=MLModelFactory(), stage=Stage.PRODUCTION) for _ in range(models)]
    first, _ = services.evaluation_upload(actor=None, version=versions[0], data=evaluation_file(rows),
                                          filename="production.csv", kind="production",
                                          sensitive_features=["sex", "region"])
    services.evaluation_compute(evaluation_id=first.pk)
    first.refresh_from_db()
    assert first.status == "done", first.error
    copied = [field.name for field in Evaluation._meta.concrete_fields if field.name not in ("id", "version")]
    Evaluation.objects.bulk_create([Evaluation(version=version, **{name: getattr(first, name) for name in copied})
                                    for version in versions[1:]])
    assert ModelVersion.objects.filter(stage=Stage.PRODUCTION, evaluations__status="done").count() == models
    return versions


def start_workers(count: int, log_dir: Path) -> list[subprocess.Popen]:
    workers = []
    for number in range(count):
        log = open(log_dir / f"worker-{count}-{number}.log", "w")  # noqa: SIM115 - closed with the process
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mlops_portal", "worker", "-Q", "heavy", "--concurrency", "1",
             "--without-mingle", "--without-gossip", "-n", f"bench-{count}-{number}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + 120
    while not all("ready." in (log_dir / f"worker-{count}-{n}.log").read_text() for n in range(count)):
        if time.monotonic() > deadline:
            raise SystemExit(f"workers did not start; see {log_dir}")
        time.sleep(0.2)
    return workers


def stop(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        proc.terminate()
    for proc in workers:
        proc.wait(timeout=60)


def timed_fan_out(worker_count: int, expected: int, log_dir: Path) -> float:
    from apps.monitoring import services
    from apps.monitoring.models import MetricWindow

    MetricWindow.objects.all().delete()
    workers = start_workers(worker_count, log_dir)
    try:
        started = time.perf_counter()
        services.windows_fan_out(now=NOW)
        deadline = time.monotonic() + 3600
        while MetricWindow.objects.count() < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"{MetricWindow.objects.count()} of {expected} windows after an hour; see {log_dir}")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        stop(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20_000, help="rows of each version's production evaluation")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="portal-queue-bench-"))
    configure(scratch / "media")
    admin(f'CREATE DATABASE "{DATABASE}"')
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        subprocess.run(["redis-cli", "-u", REDIS, "flushdb"], check=True, capture_output=True)
        started = time.perf_counter()
        versions = seed(args.models, args.rows)
        seeding = time.perf_counter() - started

        from apps.monitoring import services
        from apps.monitoring.models import MetricWindow

        started = time.perf_counter()
        per_version = services.version_windows_due(version=versions[0], now=NOW)
        in_process = time.perf_counter() - started
        expected = per_version * args.models
        assert MetricWindow.objects.count() == per_version > 0

        one = timed_fan_out(1, expected, scratch)
        two = timed_fan_out(2, expected, scratch)
        from django.db import connections

        connections.close_all()
    finally:
        admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n## Heavy queue: nightly windows of {args.models} production models "
          f"({args.rows:,} rows each, {per_version} non-empty windows each)\n")
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}; seeding took {seeding:.0f} s\n")
    print("| run | time | speed-up |")
    print("|---|---:|---:|")
    print(f"| in this process, one version x {args.models} (estimate) | {in_process * args.models:.1f} s | — |")
    print(f"| fan-out, 1 worker on the heavy queue | {one:.1f} s | 1.00x |")
    print(f"| fan-out, 2 workers on the heavy queue | {two:.1f} s | {one / two:.2f}x |")


if __name__ == "__main__":
    main()

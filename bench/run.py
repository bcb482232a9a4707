"""Benchmarks: run with `make bench`. Prints a table; ratios are against a reference measured in the same run.

Each benchmark runs on a fresh SQLite database in a temporary directory (or on the
database DATABASE_URL names), so it never touches the portal's own data.
"""

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

N_EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
REPEATS = 3


def best_of(fn, repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings)


def bench_audit_append() -> tuple[float, float]:
    """audit_record (lock + read tail + hash + insert) vs. a plain ORM insert of a similar row."""
    from django.utils import timezone

    from apps.core.models import AuditVerification
    from apps.core.services import audit_record

    def chained():
        for i in range(N_EVENTS):
            with transaction.atomic():
                audit_record(actor=None, action="bench.event", object_type="bench.row", object_id=str(i),
                             changes={"value": [i, i + 1]}, reason="benchmark")

    def plain():
        now = timezone.now()
        for i in range(N_EVENTS):
            with transaction.atomic():
                AuditVerification.objects.create(started_at=now, finished_at=now, ok=True, checked=i,
                                                 message="benchmark reference row", triggered_by="bench")

    return best_of(chained, repeats=1), best_of(plain, repeats=1)


def bench_audit_verify() -> tuple[float, float]:
    """verify_audit over the whole chain vs. just reading the same rows."""
    from apps.core.models import AuditEvent
    from apps.core.services import audit_verify

    fields = [f for f in AuditEvent().hashed_fields() if f != "id"]

    def verify():
        assert audit_verify(triggered_by="bench").ok

    def read_only():
        for _ in AuditEvent.objects.order_by("seq").values("id", *fields).iterator(chunk_size=2000):
            pass

    return best_of(verify), best_of(read_only)


def main() -> None:
    call_command("migrate", verbosity=0)
    rows = []
    append, plain = bench_audit_append()
    rows.append(("audit append (per event)", append / N_EVENTS, "plain ORM insert", plain / N_EVENTS))
    verify, read = bench_audit_verify()
    rows.append((f"verify_audit ({N_EVENTS} events)", verify, "read the same rows", read))

    print(f"# MLOps Portal benchmarks, {time.strftime('%Y-%m-%d')}")
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {os.cpu_count()} cores, Python {platform.python_version()}, database {connection.vendor}")
    print()
    print(f"| {'benchmark':<32} | {'time':>10} | {'reference':<20} | {'ref time':>10} | {'ratio':>6} |")
    print(f"|{'-' * 34}|{'-' * 12}|{'-' * 22}|{'-' * 12}|{'-' * 8}|")
    for name, value, ref_name, ref in rows:
        print(f"| {name:<32} | {fmt(value):>10} | {ref_name:<20} | {fmt(ref):>10} | {value / ref:>5.2f}x |")


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


if __name__ == "__main__":
    main()

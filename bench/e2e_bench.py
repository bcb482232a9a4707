"""End-to-end upload benchmark: `.venv/bin/python bench/e2e_bench.py [--rows 1000000 ...]` (`make bench-e2e`).

What a data scientist waits for (issue 17, item 3), through the production shape on loopback: the documented
stdlib client sends an evaluation file to gunicorn (DEBUG off), a real Celery worker computes it, PostgreSQL
and Redis in between. For each size:

1. a binary evaluation (labels, scores, two sensitive attributes, 20 numeric and 5 categorical features, as in
   `monitoring_bench.py`) is written as CSV to a temporary folder, a million rows at a time;
2. the reference: `pandas.read_csv` of that file in this run (its own process; best of three up to 2 GB);
3. the upload: the clock starts when the client is called (it reads and hashes the file itself); the moments
   measured are when the portal answers (it has the file), when the evaluation is recorded (checked and
   stored), when it is `done` (both from the portal's own timestamps) and when its explanation (computed after
   `done`) is there (see ``measure``).

Prints a markdown table with both times and their ratios to `read_csv` (issue targets: answered within
1.5x, done within 3x). Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (override with
BENCH_POSTGRES_URL, BENCH_REDIS_URL). The portal runs with its default settings: the client sends files over
its 64 MB threshold in parts, and the worker checks a CSV while it reads the parts, whatever its size.
"""

import argparse
import http.client
import math
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
from collections.abc import Sequence
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


def write_late_labels(predictions: Path, outcomes: Path, rows: int) -> None:
    """Late labels (``--labels``): the same evaluation as production predictions without their target, with a
    prediction id a row, and its outcomes (``prediction_id,y_true``) as one label file, written from the last
    million rows to the first, so the label file's pieces do not follow the evaluation's order."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from monitoring_bench import generate

    writer = None
    try:
        for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
            frame = generate(min(CHUNK_ROWS, rows - start), seed=number, shift=0.0)
            frame.insert(0, "prediction_id", [f"p{start + i:09d}" for i in range(len(frame))])
            table = pa.Table.from_pandas(frame.drop(columns="y_true"), preserve_index=False)
            writer = writer or pa_csv.CSVWriter(str(predictions), table.schema)
            writer.write_table(table)
            pa_csv.write_csv(pa.Table.from_pandas(frame[["prediction_id", "y_true"]], preserve_index=False),
                             outcomes.with_suffix(f".{number:04d}"))
    finally:
        if writer is not None:
            writer.close()
    pieces = sorted(outcomes.parent.glob(f"{outcomes.stem}.[0-9][0-9][0-9][0-9]"), reverse=True)
    with outcomes.open("wb") as out:
        for number, piece in enumerate(pieces):
            data = piece.read_bytes()
            out.write(data if number == 0 else data.split(b"\n", 1)[1])  # one header
            piece.unlink()


def measure_labels(client, version: int, predictions: Path, outcomes: Path, groups: Sequence[int]) -> dict:
    """Predictions uploaded without their target (waited for, explanation included), then their outcomes as one
    label file through the client (in parts over 8 MB): seconds from calling ``add_labels`` until the label file
    is stored (``stored``: the upload's ``finished_at``) and until the evaluation is computed again with them
    (``done``), the memory peaks of the web and worker processes over that span, and the coverage the portal
    reports."""
    evaluation = client.upload_evaluation(version, predictions, kind="production",
                                          sensitive_features=["sex", "region"])
    evaluation = client.wait(evaluation["id"], timeout=3600)
    while ((evaluation.get("metrics") or {}).get("explanations") or {}).get("status") == "pending":
        time.sleep(0.1)  # labels arrive later: not queued behind the predictions' explanation
        evaluation = client.evaluation(evaluation["id"])
    peaks = [Peaks(group) for group in groups]
    started_wall, started = time.time(), time.perf_counter()
    answer = client.add_labels(evaluation["id"], outcomes)
    moments = {"answered": time.perf_counter() - started}
    moments["stored"] = _at(answer["finished_at"]) - started_wall if "finished_at" in answer else moments["answered"]
    evaluation = client.wait(evaluation["id"], timeout=3600, interval=POLL_SECONDS)
    if evaluation["status"] != "done":
        raise SystemExit(f"the evaluation failed after its labels: {evaluation.get('error')}")
    moments["done"] = _at(evaluation["finished_at"]) - started_wall
    moments["peaks"] = [peak.growth_mb() for peak in peaks]
    moments["labels"] = evaluation["metrics"]["labels"]
    return moments


READ_CSV_MEMORY = 14 * 2**30  # address space allowed to the reference read (the portal's processes need the rest)


def read_csv_seconds(path: Path) -> float:
    """``pandas.read_csv`` of the file, in a process of its own so its memory is given back before the upload: best
    of three up to 2 GB, one read above. A file pandas cannot read within ``READ_CSV_MEMORY`` (50 million rows of
    this shape take about 15 GB) answers NaN; ``main`` then scales the largest size it could read."""
    runs = 3 if path.stat().st_size <= 2 * 2**30 else 1
    code = ("import resource, sys, time\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({READ_CSV_MEMORY}, {READ_CSV_MEMORY}))\n"
            "import pandas as pd\n"
            "started = time.perf_counter()\n"
            "try:\n"
            "    pd.read_csv(sys.argv[1])\n"
            "except Exception:  # out of memory: numpy raises MemoryError, the C parser a ParserError\n"
            "    print('nan')\n"
            "else:\n"
            "    print(time.perf_counter() - started)")
    return min(float(subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True,
                                    text=True).stdout) for _ in range(runs))


def estimated(rows: int, measured: dict[int, float]) -> tuple[float, bool]:
    """The reference for ``rows``: measured, or, when it could not be read, the largest size read scaled
    linearly (``read_csv`` is linear in the rows); the flag says whether it is an estimate."""
    if not math.isnan(measured[rows]):
        return measured[rows], False
    readable = [size for size, seconds in measured.items() if not math.isnan(seconds)]
    if not readable:
        return math.nan, True
    largest = max(readable)
    return measured[largest] * rows / largest, True


def environment(scratch: Path) -> dict[str, str]:
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


class Peaks:
    """The peak resident memory of a process group (gunicorn's or Celery's master and children) from now on: each
    process's peak (VmHWM) is reset to its current RSS (``/proc/<pid>/clear_refs``, Linux 4.0+); ``growth_mb``
    answers the largest rise of any of them, in MB."""

    def __init__(self, group: int):
        self.start = {}
        for pid in self._members(group):
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
                self.start[pid] = self._kb(pid, "VmRSS")
            except OSError:
                continue

    @staticmethod
    def _members(group: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.getpgid(int(entry.name)) == group:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    @staticmethod
    def _kb(pid: int, field: str) -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        return 0

    def growth_mb(self) -> float:
        growth = 0
        for pid, before in self.start.items():
            try:
                growth = max(growth, self._kb(pid, "VmHWM") - before)
            except OSError:
                continue
        return growth / 1024


def cpu_seconds(group: int | None = None) -> float:
    """CPU time (user + system, with reaped children) of a process group, or of this process (the client)."""
    if group is None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    ticks = 0
    for pid in Peaks._members(group):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


POLL_SECONDS = 0.25  # as the client polls; the moments come from the portal's own timestamps, not from polling


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def measure(client, version: int, path: Path, groups: Sequence[int] = (), **options) -> dict[str, float]:
    """Seconds from calling the client to each moment: answered (the portal has the file: a direct upload's
    201, or the 202 of a large file's ``complete``), recorded (the evaluation exists: checked and stored), done
    (metrics, fairness, drift and alerts computed), explained (the surrogate explanation that follows).

    Recorded and done are the portal's own timestamps (the upload's and the evaluation's ``finished_at``, same
    machine, same clock), so they are exact while the client polls at its usual pace: polling every few
    milliseconds to catch them would take CPU from the worker being measured. Explained is seen by polling.

    ``cpu`` is the CPU time used until ``done`` was seen (within one poll of it) by the client (this process) and by
    each process group of ``groups`` (gunicorn's, the worker's)."""
    cpu_before = [cpu_seconds(), *(cpu_seconds(group) for group in groups)]
    started_wall, started = time.time(), time.perf_counter()
    answer = client.upload_evaluation(version, path, kind="production", sensitive_features=["sex", "region"],
                                      wait=False, **options)
    moments = {"answered": time.perf_counter() - started}
    while "status" not in answer and answer["state"] in ("open", "processing"):  # a large file: its upload
        time.sleep(POLL_SECONDS)
        answer = client._request("GET", f"/api/v1/uploads/{answer['id']}/")
    if "status" not in answer:
        if answer["state"] != "complete":
            raise SystemExit(f"the upload was {answer['state']}: {answer.get('error')}")
        moments["recorded"] = _at(answer["finished_at"]) - started_wall
        answer = client.evaluation(answer["evaluation"])
    else:
        moments["recorded"] = _at(answer["created_at"]) - started_wall
    evaluation = answer
    while evaluation["status"] not in ("done", "failed"):
        time.sleep(POLL_SECONDS)
        evaluation = client.evaluation(answer["id"])
    if evaluation["status"] != "done":
        raise SystemExit(f"the evaluation failed: {evaluation.get('error')}")
    cpu_after = [cpu_seconds(), *(cpu_seconds(group) for group in groups)]
    moments["cpu"] = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
    moments["done"] = _at(evaluation["finished_at"]) - started_wall
    while ((evaluation.get("metrics") or {}).get("explanations") or {}).get("status") == "pending":
        time.sleep(0.1)
        evaluation = client.evaluation(answer["id"])
    moments["explained"] = time.perf_counter() - started
    return moments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--labels", action="store_true",
                        help="also send each size's outcomes as late labels: one label file, in parts")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="portal-e2e-bench-"))
    sizes = {}
    for rows in args.rows:
        path = scratch / f"evaluation-{rows}.csv"
        write_evaluation(path, rows)
        sizes[rows] = path
    env = environment(scratch)
    os.environ.update(env)
    admin(f'CREATE DATABASE "{DATABASE}"')
    processes = []
    results, late = [], {}
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
        warm_up = scratch / "warm-up.csv"
        write_evaluation(warm_up, 20_000)
        measure(client, version, warm_up, chunk_threshold=1)  # the libraries load once, outside the measurements
        measured = {}
        for rows, path in sizes.items():
            measured[rows] = read_csv_seconds(path)
            web, worker = Peaks(processes[0].pid), Peaks(processes[1].pid)
            moments = measure(client, version, path, groups=[process.pid for process in processes])
            results.append((rows, path.stat().st_size, moments, web.growth_mb(), worker.growth_mb()))
        for rows in sizes if args.labels else ():
            predictions, outcomes = scratch / f"predictions-{rows}.csv", scratch / f"outcomes-{rows}.csv"
            write_late_labels(predictions, outcomes, rows)
            late[rows] = (outcomes.stat().st_size, measure_labels(client, version, predictions, outcomes,
                                                                  [process.pid for process in processes]))
            predictions.unlink()
            outcomes.unlink()
    finally:
        for proc in processes:
            stop(proc)
        admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n## End to end: upload through gunicorn to `done` by a real worker\n")
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}; PostgreSQL + Redis; gunicorn {args.gunicorn_workers} sync workers, "
          "1 Celery worker\n")
    print("| rows | file | pandas.read_csv | answered | ratio | recorded | done | ratio | explained | web peak | "
          "worker peak | CPU to done: client + web + worker |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows, size, moments, web, worker in results:
        reference, guessed = estimated(rows, measured)
        print(f"| {rows:,} | {size / 2**20:,.0f} MB | {reference:.2f} s{' (est.)' if guessed else ''} | "
              f"{moments['answered']:.2f} s | "
              f"{moments['answered'] / reference:.1f}x (target {TARGETS['answered']}x) | {moments['recorded']:.2f} s | "
              f"{moments['done']:.2f} s | {moments['done'] / reference:.1f}x (target {TARGETS['done']}x) | "
              f"{moments['explained']:.2f} s | +{web:,.0f} MB | +{worker:,.0f} MB | "
              f"{' + '.join(f'{seconds:.2f}' for seconds in moments['cpu'])} s |")
    if any(math.isnan(seconds) for seconds in measured.values()):
        print(f"\n(est.): pandas.read_csv could not read that file within {READ_CSV_MEMORY / 2**30:.0f} GB; the "
              "largest size it read, scaled linearly.")
    if late:
        print("\n## Late labels: every row's outcome as one label file, sent in parts, to the evaluation recomputed\n")
        print("| rows | label file | stored | done | web peak | worker peak | labelled |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for rows, (size, moments) in late.items():
            web, worker = moments["peaks"]
            print(f"| {rows:,} | {size / 2**20:,.0f} MB | {moments['stored']:.2f} s | {moments['done']:.2f} s | "
                  f"+{web:,.0f} MB | +{worker:,.0f} MB | {moments['labels']['labelled_rows']:,} |")
    print("\nPeaks: the largest rise of resident memory (VmHWM over RSS at the start of that upload) of any gunicorn "
          "or Celery process, after a warm-up upload loaded the libraries.")


if __name__ == "__main__":
    main()

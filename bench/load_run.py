"""Load run: `.venv/bin/python bench/load_run.py [--users 20 --duration 60 --models 10000]`.

A bounded load test of the production shape on loopback: gunicorn serving the portal
from PostgreSQL, with production settings (``DJANGO_DEBUG=false``, a random secret key,
``DJANGO_ALLOWED_HOSTS=127.0.0.1``, static files from whitenoise after ``collectstatic``).

1. Creates the database ``portal_load`` (dropped first if a previous run left it) on the
   PostgreSQL server of ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432``; the
   database named in the URL is never touched), migrates, seeds the demo portfolio
   (``seed_demo``) and adds ``--models`` benchmark models with their versions, deployments,
   assessments, reviews and alerts (``Seeder`` of ``bench/inventory_bench.py``, ``bulk_create``),
   then ``ANALYZE``.
2. Creates one user per virtual user, the roles in turn (executive, reviewer, data scientist,
   admin), each with a password known to this run and an API token (``api_token_issue``).
3. Starts gunicorn (``--workers``, default 2 x cores + 1; ``--threads`` > 1 selects the gthread
   worker) on a free port of 127.0.0.1.
4. Each virtual user is a thread with its own keep-alive ``http.client`` connection. It logs in
   through the real login form (GET for the CSRF token, POST with it), then loops without
   think time over a weighted mix of pages (session) and API calls (token), for ``--warmup``
   seconds unrecorded, then ``--duration`` seconds recorded. Requests go over plain HTTP as a
   TLS-terminating proxy would forward them: ``DJANGO_BEHIND_PROXY=true`` and
   ``X-Forwarded-Proto: https``, so the HTTPS-only settings (SSL redirect, secure cookies,
   strict Referer check) stay on as in production.
5. Prints one markdown table: per page the requests, errors, p50, p95, p99, max and throughput
   seen by the client (time waiting for a free worker included), the p50 and p95 of gunicorn's
   own request time (its access log, joined by an ``X-Load-Page`` header), and the ratio of the
   server p50 to the reference's: ``/healthz`` under the same load (a request through the whole
   middleware stack with one ``SELECT 1``). Above the table: the CPU seconds the gunicorn workers
   and the client used while recorded (from ``/proc``), so a run on a busy machine still says
   what a request costs.
6. Stops gunicorn, drops ``portal_load`` and removes its temporary folder.

``--conn-max-age 0,60`` runs the load once per value on the same data (one table each).

An error is any exception or any status other than 200 (a 302 to the login page would be a
lost session, so it counts as an error too). Exits with status 1 when any request or login
failed, 2 when the run could not start.

Benchmark test data, not governed data: the scaled-up rows bypass the services and the audit
trail; the demo portfolio is seeded with ``seed_demo --force`` into the throw-away database.
"""

import argparse
import http.client
import io
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent

DATABASE_NAME = "portal_load"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/9"
ROLES = ("executive", "reviewer", "data_scientist", "admin")
REFERENCE = "/healthz (reference)"
LIST_PAGE_SIZE = 50  # apps/inventory/views.PAGE_SIZE
REQUEST_TIMEOUT = 120.0
START_TIMEOUT = 180  # seconds for every worker to import the app on a busy machine
ERROR_EXAMPLES = 5


# --- Statistics and report (pure) ------------------------------------------------------------

def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the smallest value with at least q% of the values at or below it)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], not {q}")
    return sorted_values[math.ceil(q / 100 * len(sorted_values)) - 1]


@dataclass
class PageStats:
    name: str
    requests: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    rate: float  # requests per second over the recorded period
    server_p50: float = math.nan
    server_p95: float = math.nan


def summarize(name: str, durations: Sequence[float], errors: int, seconds: float,
              server: Sequence[float] = ()) -> PageStats:
    """Latency figures over every request of a page, failed ones included (a failure took time too).

    ``durations`` are seen by the client (queueing in the listen backlog included), ``server`` are
    gunicorn's request times of the same requests (from the parsed request to the last byte sent).
    """
    values, on_server = sorted(durations), sorted(server)
    stats = PageStats(name, len(values), errors, math.nan, math.nan, math.nan, math.nan, len(values) / seconds)
    if values:
        stats.p50, stats.p95, stats.p99 = (percentile(values, q) for q in (50, 95, 99))
        stats.max = values[-1]
    if on_server:
        stats.server_p50, stats.server_p95 = percentile(on_server, 50), percentile(on_server, 95)
    return stats


def fmt_ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def render_table(rows: Sequence[PageStats], *, reference: str, total: PageStats | None = None) -> str:
    """A markdown table; ratio = the page's server p50 / the reference row's (both from the same run)."""
    ref = next((r for r in rows if r.name == reference), None)
    head = ["page", "requests", "errors", "p50", "p95", "p99", "max", "req/s", "server p50", "server p95",
            "server p50 ratio"]
    lines = []
    for row in [*rows, *([total] if total else [])]:
        if row is total:
            ratio = ""
        elif ref is None or not ref.server_p50 or math.isnan(row.server_p50) or math.isnan(ref.server_p50):
            ratio = "-"
        else:
            ratio = f"{row.server_p50 / ref.server_p50:.1f}x"
        name = f"**{row.name}**" if row is total else row.name
        lines.append([name, f"{row.requests:,}", f"{row.errors:,}", fmt_ms(row.p50), fmt_ms(row.p95),
                      fmt_ms(row.p99), fmt_ms(row.max), f"{row.rate:.1f}", fmt_ms(row.server_p50),
                      fmt_ms(row.server_p95), ratio])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for line in lines:
        out.append("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(line, widths, strict=True))) + " |")
    return "\n".join(out)


# gunicorn writes one line per request: the page key the client sent (or "-"), the status, microseconds.
ACCESS_LOG_FORMAT = "%({x-load-page}i)s %(s)s %(D)s"


def server_times(lines: Sequence[str], keys: dict[str, str]) -> dict[str, list[float]]:
    """Seconds per page name from gunicorn's access log; lines without a known page key are skipped."""
    times: dict[str, list[float]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] in keys and parts[2].isdigit():
            times.setdefault(keys[parts[0]], []).append(int(parts[2]) / 1e6)
    return times


# --- Workload (pure) -------------------------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    """What the random pages pick from: read from the database before the run."""

    models: Sequence[str]
    processes: Sequence[str]
    production_pages: int


@dataclass(frozen=True)
class Page:
    name: str
    weight: int
    auth: str  # "session", "token" or "none"
    url: Callable[[random.Random, Targets], str]


PAGES = (
    Page("dashboard", 2, "session", lambda rng, t: "/inventory/dashboard/"),
    Page("inventory list", 3, "session", lambda rng, t: "/inventory/"),
    Page("inventory filtered, page n", 2, "session",
         lambda rng, t: f"/inventory/?stage=production&sort=name&page={rng.randint(1, t.production_pages)}"),
    Page("model page", 4, "session", lambda rng, t: f"/inventory/models/{rng.choice(t.models)}/"),
    Page("model lineage", 2, "session", lambda rng, t: f"/inventory/models/{rng.choice(t.models)}/lineage/"),
    Page("business process", 2, "session", lambda rng, t: f"/inventory/processes/{rng.choice(t.processes)}/"),
    Page("API model list", 3, "token", lambda rng, t: "/api/v1/models/"),
    Page("API model detail", 3, "token", lambda rng, t: f"/api/v1/models/{rng.choice(t.models)}/"),
    Page(REFERENCE, 2, "none", lambda rng, t: "/healthz"),
)


PAGE_KEYS = {f"p{i}": page.name for i, page in enumerate(PAGES)}


def pick(rng: random.Random, pages: Sequence[Page] = PAGES) -> Page:
    return rng.choices(pages, weights=[p.weight for p in pages])[0]


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_from_form(html: str) -> str:
    match = CSRF_INPUT.search(html)
    if not match:
        raise ValueError("no csrfmiddlewaretoken in the login form")
    return match.group(1)


def cookies_from(set_cookie_headers: Sequence[str]) -> dict[str, str]:
    jar = SimpleCookie()
    for header in set_cookie_headers:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


# --- Virtual users ---------------------------------------------------------------------------

@dataclass
class Recorder:
    """One virtual user's measurements; merged by the main thread after the run."""

    durations: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    reconnects: int = 0

    def add(self, name: str, seconds: float, error: str | None) -> None:
        self.durations.setdefault(name, []).append(seconds)
        if error:
            self.errors[name] = self.errors.get(name, 0) + 1
            if len(self.examples) < ERROR_EXAMPLES:
                self.examples.append(f"{name}: {error}")


class Schedule:
    """Start and end of the recorded period, fixed when every user has logged in."""

    def __init__(self, warmup: float, duration: float):
        self.warmup, self.duration = warmup, duration
        self.start = self.stop = math.inf

    def begin(self) -> None:
        self.start = time.perf_counter() + self.warmup
        self.stop = self.start + self.duration


class VirtualUser(threading.Thread):
    def __init__(self, *, index: int, port: int, username: str, password: str, token: str, targets: Targets,
                 schedule: Schedule, barrier: threading.Barrier):
        super().__init__(name=f"vu-{index}", daemon=True)
        self.port, self.username, self.password, self.token = port, username, password, token
        self.targets, self.schedule, self.barrier = targets, schedule, barrier
        self.rng = random.Random(index)  # noqa: S311 - a reproducible workload, not a secret
        self.cookies: dict[str, str] = {}
        self.record = Recorder()
        self.login_seconds: float | None = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.origin = f"https://127.0.0.1:{port}"

    def run(self) -> None:
        try:
            logged_in = self.login()
        finally:
            self.barrier.wait()
        if logged_in:
            self.loop()
        self.conn.close()

    def request(self, method: str, path: str, *, headers: dict, body: str | None = None):
        """Send one request and read the whole body (the connection is reused)."""
        headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https",
                   "User-Agent": "portal-load-run", **headers}
        for attempt in (1, 2):
            reused = self.conn.sock is not None
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                # The server closed an idle keep-alive connection just as it was reused: not a failed request.
                if not reused or attempt == 2:
                    raise
                self.record.reconnects += 1
        raise AssertionError("unreachable")

    def login(self) -> bool:
        started = time.perf_counter()
        try:
            response, body = self.request("GET", "/accounts/login/", headers={})
            if response.status != 200:
                raise RuntimeError(f"GET login form: HTTP {response.status}")
            self.cookies.update(cookies_from(response.msg.get_all("Set-Cookie") or []))
            form = urlencode({"username": self.username, "password": self.password,
                              "csrfmiddlewaretoken": csrf_from_form(body.decode())})
            response, _ = self.request("POST", "/accounts/login/", body=form, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie_header(),
                "Origin": self.origin, "Referer": f"{self.origin}/accounts/login/"})
            self.cookies.update(cookies_from(response.msg.get_all("Set-Cookie") or []))
            if response.status != 302 or "sessionid" not in self.cookies:
                raise RuntimeError(f"POST login: HTTP {response.status}, no session")
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            self.record.add("login", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            return False
        self.login_seconds = time.perf_counter() - started
        return True

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def loop(self) -> None:
        auth_headers = {"session": {"Cookie": self.cookie_header()},
                        "token": {"Authorization": f"Token {self.token}", "Accept": "application/json"},
                        "none": {}}
        keys = {name: key for key, name in PAGE_KEYS.items()}
        while True:
            page = pick(self.rng)
            path = page.url(self.rng, self.targets)
            started = time.perf_counter()
            if started >= self.schedule.stop:
                return
            recorded = started >= self.schedule.start
            # Tags the request in gunicorn's access log, so its server time joins the same row.
            headers = {**auth_headers[page.auth], "X-Load-Page": keys[page.name] if recorded else "warm-up"}
            error = None
            try:
                response, _ = self.request("GET", path, headers=headers)
                if response.status != 200:
                    error = f"HTTP {response.status} {path} {response.getheader('Location') or ''}".rstrip()
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                error = f"{type(exc).__name__}: {exc} ({path})"
            if recorded:
                self.record.add(page.name, time.perf_counter() - started, error)


# --- Database and server ---------------------------------------------------------------------

def server_urls(url: str) -> tuple[str, str]:
    """(admin URL, URL of the load database) on the server of ``url``; its database name is ignored."""
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"The load run needs PostgreSQL; DATABASE_URL is {url!r}.")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), urlunsplit(parts._replace(path=f"/{DATABASE_NAME}"))


def recreate_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')


def production_env(*, database_url: str, broker_url: str, var_dir: Path, conn_max_age: int) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "mlops_portal.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # The client plays a TLS-terminating proxy: HTTPS-only settings stay on.
        "DJANGO_BEHIND_PROXY": "true",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
        "CELERY_BROKER_URL": broker_url,
        "PORTAL_VAR_DIR": str(var_dir),
        "DJANGO_STATIC_ROOT": str(var_dir / "static"),
        "PORTAL_LOG_LEVEL": "WARNING",
    }


def prepare(*, models: int, users: int, password: str, phases: dict[str, float]) -> tuple[
        Targets, list[tuple[str, str]], dict[str, int]]:
    """Migrate, seed, scale up and create the load users; returns targets, (username, token) and row counts.

    Fills ``phases`` with the seconds each step took.
    """
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    from apps.core.services import api_token_issue
    from apps.inventory.models import BusinessProcess, Deployment, MLModel, ModelVersion

    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        phases[name] = time.perf_counter() - clock
        clock = time.perf_counter()

    call_command("migrate", verbosity=0)
    lap("migrate")
    call_command("collectstatic", interactive=False, verbosity=0)
    lap("collectstatic")
    call_command("seed_demo", force=True, stdout=io.StringIO())
    lap("seed_demo")
    if models:
        sys.path.insert(0, str(BENCH))
        from inventory_bench import Seeder

        seeder = Seeder(versions_per_model=5)
        with transaction.atomic():
            seeder.organisation()
            for start in range(0, models, 2_500):
                seeder.portfolio(start, min(start + 2_500, models))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    lap(f"{models:,} more models + ANALYZE")

    user_model = get_user_model()
    hashed = make_password(password)
    accounts = []
    for i in range(users):
        role = ROLES[i % len(ROLES)]
        user = user_model.objects.create(username=f"load-{role}-{i}", password=hashed, is_staff=role == "admin",
                                         email=f"load-{i}@example.org")
        user.groups.add(Group.objects.get(name=role))
        accounts.append((user.username, api_token_issue(user=user).key))
    lap("users")

    production = MLModel.objects.filter(stage="production").count()
    targets = Targets(models=list(MLModel.objects.values_list("slug", flat=True)),
                      processes=list(BusinessProcess.objects.values_list("slug", flat=True)),
                      production_pages=max(1, math.ceil(production / LIST_PAGE_SIZE)))
    counts = {"models": len(targets.models), "versions": ModelVersion.objects.count(),
              "deployments": Deployment.objects.count(), "business processes": len(targets.processes),
              "users": user_model.objects.count()}
    connections.close_all()
    return targets, accounts, counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(*, port: int, workers: int, threads: int, env: dict[str, str], log: Path,
                   access_log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("gunicorn")), "mlops_portal.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--worker-class", "gthread" if threads > 1 else "sync", "--threads", str(threads),
               "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT]
    with open(log, "ab") as out:
        # Own process group: stopping the run stops every worker.
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out,
                                  start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz", headers={"Host": f"127.0.0.1:{port}"})
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    stop_gunicorn(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within {START_TIMEOUT} s")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# --- Run -------------------------------------------------------------------------------------

def drive(*, port: int, accounts: list[tuple[str, str]], password: str, targets: Targets, warmup: float,
          duration: float, server_pid: int) -> tuple[list[VirtualUser], float, float]:
    """Run the users; returns them and the CPU seconds the gunicorn workers and this client used while recorded."""
    schedule = Schedule(warmup, duration)
    barrier = threading.Barrier(len(accounts) + 1, action=schedule.begin)
    users = [VirtualUser(index=i, port=port, username=name, password=password, token=token, targets=targets,
                         schedule=schedule, barrier=barrier)
             for i, (name, token) in enumerate(accounts)]
    for user in users:
        user.start()
    barrier.wait()
    time.sleep(max(0.0, schedule.start - time.perf_counter()))
    server_cpu, client_cpu = children_cpu_seconds(server_pid), time.process_time()
    time.sleep(max(0.0, schedule.stop - time.perf_counter()))
    server_cpu, client_cpu = children_cpu_seconds(server_pid) - server_cpu, time.process_time() - client_cpu
    for user in users:
        user.join()
    return users, server_cpu, client_cpu


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, user + system CPU in clock ticks) from the text of /proc/<pid>/stat."""
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), int(fields[11]) + int(fields[12])


def children_cpu_seconds(parent: int) -> float:
    """CPU seconds used so far by the children of ``parent`` (the gunicorn workers of the master)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid, cpu = parse_stat(stat.read_text())
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
        if ppid == parent:
            ticks += cpu
    return ticks / os.sysconf("SC_CLK_TCK")


def merge(users: Sequence[VirtualUser], duration: float, server: dict[str, list[float]]) -> tuple[
        list[PageStats], PageStats, Recorder]:
    merged = Recorder()
    for user in users:
        for name, values in user.record.durations.items():
            merged.durations.setdefault(name, []).extend(values)
        for name, n in user.record.errors.items():
            merged.errors[name] = merged.errors.get(name, 0) + n
        merged.examples.extend(user.record.examples[:ERROR_EXAMPLES - len(merged.examples)])
        merged.reconnects += user.record.reconnects
    names = [p.name for p in PAGES if p.name != REFERENCE] + [REFERENCE]
    rows = [summarize(name, merged.durations.get(name, []), merged.errors.get(name, 0), duration,
                      server.get(name, [])) for name in names]
    every = [v for name in names for v in merged.durations.get(name, [])]
    total = summarize("all requests", every, sum(merged.errors.get(n, 0) for n in names), duration,
                      [v for name in names for v in server.get(name, [])])
    return rows, total, merged


def machine(counts: dict[str, int]) -> list[str]:
    import django

    cpu = proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    kib = proc_field("/proc/meminfo", "MemTotal").split(" ")[0]
    memory = f"{int(kib) / 2**20:.0f} GiB" if kib else "memory unknown"
    with psycopg.connect(server_urls(os.environ["DATABASE_URL"])[0]) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
    return [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Django {django.get_version()}, gunicorn {version('gunicorn')}, "
        f"PostgreSQL {server_version}, {memory}",
        "# data: " + ", ".join(f"{n:,} {label}" for label, n in counts.items()),
    ]


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent virtual users (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="recorded seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=10, help="unrecorded seconds after login (default 10)")
    parser.add_argument("--models", type=int, default=10_000,
                        help="benchmark models added to the demo portfolio (default 10,000; 0 for the demo only)")
    parser.add_argument("--workers", type=int, default=2 * cores + 1, help="gunicorn workers (default 2 x cores + 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker; > 1 uses the gthread worker")
    parser.add_argument("--conn-max-age", default="0",
                        help="DATABASE_CONN_MAX_AGE of gunicorn (default 0, the portal's default); a comma-separated "
                             "list (0,60) runs the load once per value on the same data, one table each")
    args = parser.parse_args()
    try:
        conn_max_ages = [int(v) for v in args.conn_max_age.split(",")]
    except ValueError:
        parser.error("--conn-max-age takes whole seconds, comma-separated")
    if args.users < 1 or args.duration <= 0 or args.warmup < 0 or args.models < 0:
        parser.error("--users must be at least 1, --duration positive, --warmup and --models not negative")

    env_url = os.environ.get("DATABASE_URL", "")
    admin_url, database_url = server_urls(env_url if env_url.startswith("postgres") else DEFAULT_SERVER_URL)
    var_dir = Path(tempfile.mkdtemp(prefix="portal-load-"))
    env = production_env(database_url=database_url, broker_url=os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL),
                         var_dir=var_dir, conn_max_age=conn_max_ages[0])
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    password = secrets.token_urlsafe(16)
    load_before = os.getloadavg()
    phases: dict[str, float] = {}
    runs = []
    created = False
    try:
        recreate_database(admin_url)
        created = True
        targets, accounts, counts = prepare(models=args.models, users=args.users, password=password, phases=phases)
        for conn_max_age in conn_max_ages:
            runs.append(load_phase(args, env={**env, "DATABASE_CONN_MAX_AGE": str(conn_max_age)},
                                   log_dir=var_dir / f"gunicorn-{conn_max_age}", accounts=accounts,
                                   password=password, targets=targets))
    except (RuntimeError, OSError, psycopg.Error) as exc:
        print(f"The load run could not start: {exc}", file=sys.stderr)
        return 2
    finally:
        if created:
            drop_database(admin_url)
        shutil.rmtree(var_dir, ignore_errors=True)

    print(f"# Load run: {args.users} users x {args.duration:g} s, gunicorn + PostgreSQL, loopback")
    print("\n".join(machine(counts)))
    print(f"# client: {args.users} threads in one process on the same machine, keep-alive, no think time; "
          f"{args.warmup:g} s warm-up unrecorded; load average before seeding {fmt_load(load_before)}")
    print("# prepared in " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items()))
    print("# p50 .. max: seen by the client, waiting for a free worker included; server p50/p95: gunicorn's "
          "request time (access log); server p50 ratio = the page's server p50 / that of /healthz, measured "
          "under the same load")
    return 1 if sum([report(args, run) for run in runs]) else 0


@dataclass
class LoadPhase:
    """One gunicorn configuration under load: its users, access log and machine load."""

    conn_max_age: str
    users: list
    access: list[str]
    server_log: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    server_cpu: float
    client_cpu: float


def load_phase(args, *, env: dict[str, str], log_dir: Path, accounts, password: str, targets: Targets) -> LoadPhase:
    """Start gunicorn, let the users log in and load it, stop it; gunicorn's logs stay in ``log_dir``."""
    log_dir.mkdir()
    log, access_log = log_dir / "gunicorn.log", log_dir / "access.log"
    port = free_port()
    server = None
    try:
        server = start_gunicorn(port=port, workers=args.workers, threads=args.threads, env=env, log=log,
                                access_log=access_log)
        load_start = os.getloadavg()
        users, server_cpu, client_cpu = drive(port=port, accounts=accounts, password=password, targets=targets,
                                              warmup=args.warmup, duration=args.duration, server_pid=server.pid)
        load_end = os.getloadavg()
    except RuntimeError:
        print(tail(log), file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop_gunicorn(server)
    access = access_log.read_text(errors="replace").splitlines() if access_log.exists() else []
    return LoadPhase(env["DATABASE_CONN_MAX_AGE"], users, access, tail(log), load_start, load_end, server_cpu,
                     client_cpu)


def report(args, run: LoadPhase) -> int:
    """Print the table of one load phase; returns its number of errors."""
    rows, total, merged = merge(run.users, args.duration, server_times(run.access, PAGE_KEYS))
    logins = sorted(u.login_seconds for u in run.users if u.login_seconds is not None)
    login_errors = merged.errors.get("login", 0)
    worker = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
    print()
    print(f"## gunicorn: {args.workers} workers ({worker}), DATABASE_CONN_MAX_AGE={run.conn_max_age}, "
          f"DJANGO_DEBUG=false; load average before the run {fmt_load(run.load_start)}, "
          f"after {fmt_load(run.load_end)}")
    print(f"# logins (GET form + POST, before the recorded period): {len(logins)} of {len(run.users)}"
          + (f", p50 {fmt_ms(percentile(logins, 50))}, max {fmt_ms(logins[-1])}" if logins else ""))
    cores = os.cpu_count() or 1
    per_request = f", {fmt_ms(run.server_cpu / total.requests)} per request" if total.requests else ""
    share = run.server_cpu / args.duration / cores
    print(f"# CPU while recorded: gunicorn workers {run.server_cpu:.1f} s ({share:.0%} of {cores} cores)"
          f"{per_request}; client {run.client_cpu:.1f} s (PostgreSQL not counted)")
    print()
    print(render_table(rows, reference=REFERENCE, total=total))
    print()
    errors = total.errors + login_errors
    print(f"Errors: {errors}" + (f" (logins: {login_errors})" if login_errors else "")
          + (f"; idle keep-alive connections reopened: {merged.reconnects}" if merged.reconnects else ""))
    for example in merged.examples:
        print(f"- {example}")
    if errors:
        print(f"\n{run.server_log}")
    return errors


def proc_field(path: str, name: str) -> str:
    """The value of ``name: value`` in a /proc file, or "" (not Linux)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == name), "")


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return f"gunicorn log (last {lines} lines):\n" + "\n".join(text.splitlines()[-lines:])


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{n:.1f}" for n in load)


if __name__ == "__main__":
    sys.exit(main())

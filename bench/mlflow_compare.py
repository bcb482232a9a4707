"""Portal vs MLflow model registry: `make bench-mlflow` (`.venv/bin/python bench/mlflow_compare.py [--help]`).

Runs both registries as servers on loopback and times them with the same client code (one
``http.client`` connection each, kept alive when the server allows it), then prints one table:

- registration: ``--register`` models, each with one version, created one by one through each
  system's API, alternating systems model by model (portal: ``POST /api/v1/models/`` then
  ``POST /api/v1/model-versions/``, token authentication, every change audited; MLflow:
  ``registered-models/create`` then ``model-versions/create``); rate in models per second of
  each system's request time, p50/p95 of the two requests together;
- then the rest up to ``--models`` is loaded in bulk, the same models in both (names, tags, versions
  and stages), and ``--repeats`` requests of each read are timed, alternating portal and MLflow so
  both see the same machine load: the first page of the list (50 models), a name search
  ("model 12" in the name, case-insensitive), a tag filter (models tagged ``tag-3``) and one model
  by name. The first page of every list must name the same models on both systems (checked).

ratio = MLflow time / portal time (for the rate: portal models/s / MLflow models/s), so > 1 means
the portal is faster. Exits with status 1 when the portal is slower on a row (p50 or p95).

The portal runs under gunicorn (one sync worker, as in the Dockerfile but one worker) with
``DJANGO_DEBUG=false`` on a fresh SQLite database in a temporary folder; only the HTTPS redirect is
switched off (``DJANGO_SECURE_SSL_REDIRECT=false``: plain HTTP on loopback) and the per-user API
throttle raised (``PORTAL_API_USER_RATE``) so the run is not throttled; the throttle still runs.
MLflow runs ``mlflow server --workers 1`` (uvicorn) on a SQLite file in the same folder.
Timing starts once both servers' processes are idle: MLflow's server starts background job
consumers (huey) that keep importing for several seconds after it first answers. MLflow and
its dependencies live in their own virtualenv, ``var/bench-mlflow-venv``, created on first use with
the version pinned in the ``bench`` extra of ``pyproject.toml``; this script itself needs only the
standard library to talk to it.

Bulk loading: the portal gets ``bench/inventory_bench.py``'s seeding (``bulk_create``: versions,
deployments, risk assessments, reviews...); MLflow gets the same models, tags and versions written
straight into its SQLite tables (``registered_models``, ``registered_model_tags``,
``model_versions``) in one transaction, as its REST API would take minutes for 50,000 versions.
"""

import argparse
import http.client
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = ROOT / "var" / "bench-mlflow-venv"
MLFLOW_API = "/api/2.0/mlflow"
PAGE_SIZE = 50  # the portal's page size; MLflow is asked for as many (max_results)
WARMUP = 5
STARTUP_TIMEOUT = 180.0
PROBE = "Model 12"  # opened by the single-model get; seeded with five versions on both systems
SEARCH = "model 12"
TAG = "tag-3"
# MLflow's registry stages closest to the portal's lifecycle stages.
MLFLOW_STAGES = {"production": "Production", "staging": "Staging", "retired": "Archived"}


# --- Small helpers (no Django, no MLflow: tested in tests/bench) --------------------------------

def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of the values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(timings: list[float]) -> dict:
    return {"n": len(timings), "p50": statistics.median(timings), "p95": percentile(timings, 0.95)}


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x"


def table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table; the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def result_rows(registration: dict, reads: list[dict]) -> tuple[list[str], list[list[str]], bool]:
    """The comparison table and whether the portal is faster on every row (p50 and p95).

    ``registration`` holds each system's rate (models/s) and per-model summary; each read holds a
    name and each system's summary. Ratios are MLflow time / portal time.
    """
    head = ["measurement", "n", "portal", "MLflow", "ratio", "portal p95", "MLflow p95", "ratio p95",
            "portal faster"]
    portal, mlflow = registration["portal"], registration["mlflow"]
    ratio, ratio95 = portal["rate"] / mlflow["rate"], mlflow["p95"] / portal["p95"]
    rows = [["registration: model + 1 version (models/s; p95 per model)", f"{portal['n']:,}",
             f"{portal['rate']:.1f}/s", f"{mlflow['rate']:.1f}/s", fmt_ratio(ratio), fmt_time(portal["p95"]),
             fmt_time(mlflow["p95"]), fmt_ratio(ratio95), "yes" if ratio > 1 and ratio95 > 1 else "NO"]]
    everywhere = ratio > 1 and ratio95 > 1
    for read in reads:
        portal, mlflow = read["portal"], read["mlflow"]
        ratio, ratio95 = mlflow["p50"] / portal["p50"], mlflow["p95"] / portal["p95"]
        faster = ratio > 1 and ratio95 > 1
        everywhere = everywhere and faster
        rows.append([f"{read['name']} (p50)", f"{portal['n']:,}", fmt_time(portal["p50"]), fmt_time(mlflow["p50"]),
                     fmt_ratio(ratio), fmt_time(portal["p95"]), fmt_time(mlflow["p95"]), fmt_ratio(ratio95),
                     "yes" if faster else "NO"])
    return head, rows, everywhere


def mlflow_requirement(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The pinned MLflow requirement of the ``bench`` extra, e.g. ``mlflow==3.17.2``."""
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    for requirement in extras.get("bench", []):
        if requirement.replace(" ", "").lower().startswith("mlflow=="):
            return requirement.replace(" ", "")
    raise SystemExit("pyproject.toml has no pinned 'mlflow==...' in [project.optional-dependencies] bench")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP ---------------------------------------------------------------------------------------

class Client:
    """One keep-alive connection (``http.client`` reopens it when a server closes it after a response)."""

    def __init__(self, port: int, headers: dict | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Accept": "application/json", **(headers or {})}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A kept-alive connection the server dropped while idle: reconnect once, untimed.
            self.conn.close()
            return self.call(method, path, body)
        elapsed = time.perf_counter() - started
        return response.status, payload, elapsed

    def json(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> tuple[dict, float]:
        status, payload, elapsed = self.call(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {payload[:500]!r}")
        return json.loads(payload), elapsed

    def close(self) -> None:
        self.conn.close()


def wait_until_up(port: int, path: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited ({process.returncode}); see its log:\n"
                             + log.read_text()[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server on port {port} did not answer {path} within {STARTUP_TIMEOUT:.0f} s; see {log}")


def start(cmd: list[str], *, env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    # Own process group, so stopping it also stops the workers it forks.
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- MLflow ---------------------------------------------------------------------------------------

def ensure_mlflow(venv: Path, requirement: str) -> str:
    """Create ``venv`` with the pinned MLflow unless it is there already; returns MLflow's version."""
    python = venv / "bin" / "python"
    wanted = requirement.split("==", 1)[1]

    def installed() -> str:
        probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
                               capture_output=True, text=True)
        return probe.stdout.strip() if probe.returncode == 0 else ""

    if python.exists() and installed() == wanted:
        return wanted
    print(f"# installing {requirement} into {venv} (its own virtualenv; once)", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
                   check=True)
    version = installed()
    if version != wanted:
        raise SystemExit(f"{venv}: expected mlflow {wanted}, found {version or 'none'}")
    return version


def start_mlflow(venv: Path, folder: Path, port: int, *, serve_artifacts: bool = False) -> subprocess.Popen:
    """``mlflow server`` on loopback with a SQLite store in ``folder``. With ``serve_artifacts`` clients log and read
    artifacts through the server (``mlflow-artifacts:/``, stored in ``folder/mlflow-artifacts``), as the portal's
    MLflow sync reads them (tests/integrations); without, they are written straight to that folder."""
    artifacts = (["--serve-artifacts", "--artifacts-destination", str(folder / "mlflow-artifacts")] if serve_artifacts
                 else ["--default-artifact-root", str(folder / "mlflow-artifacts")])
    cmd = [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
           *artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "DATABASE_"))}
    log = folder / "mlflow.log"
    process = start(cmd, env=env, log=log, cwd=folder)
    wait_until_up(port, "/health", process, log)
    return process


def mlflow_register(client: Client, name: str, *, slug: str, purpose: str, tag: str) -> float:
    _, first = client.json("POST", f"{MLFLOW_API}/registered-models/create",
                           {"name": name, "description": purpose, "tags": [{"key": tag, "value": "true"}]})
    _, second = client.json("POST", f"{MLFLOW_API}/model-versions/create",
                            {"name": name, "source": f"s3://bench/models/{slug}/1.0.0"})
    return first + second


def mlflow_bulk_load(database: Path, models: list[dict]) -> None:
    """Write ``models`` (name, purpose, times, tags, versions) into MLflow's registry tables in one transaction."""
    def millis(moment) -> int:
        return int(moment.timestamp() * 1000)

    rows, tags, versions = [], [], []
    for m in models:
        rows.append((m["name"], millis(m["created_at"]), millis(m["updated_at"]), m["purpose"]))
        tags += [(tag, "true", m["name"]) for tag in m["tags"]]
        for number, v in enumerate(m["versions"], start=1):
            source = f"s3://bench/models/{m['slug']}/{v['version']}"
            versions.append((m["name"], number, millis(v["created_at"]), millis(v["updated_at"]), "",
                             MLFLOW_STAGES.get(v["stage"], "None"), source, "", "READY", "", source))
    with sqlite3.connect(database, timeout=60) as db:
        db.executemany("INSERT INTO registered_models (name, creation_time, last_updated_time, description) "
                       "VALUES (?, ?, ?, ?)", rows)
        db.executemany('INSERT INTO registered_model_tags ("key", value, name) VALUES (?, ?, ?)', tags)
        db.executemany("INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, "
                       "current_stage, source, run_id, status, run_link, storage_location) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", versions)
    db.close()


def mlflow_search(query: dict) -> str:
    return f"{MLFLOW_API}/registered-models/search?" + urlencode(query, quote_via=quote)


# --- Portal -----------------------------------------------------------------------------------

def prepare_portal(folder: Path):
    """Point Django at a fresh SQLite database in ``folder``, migrate it, and return the inventory bench module."""
    os.environ["PORTAL_VAR_DIR"] = str(folder)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlops_portal.settings"
    sys.path.insert(0, str(ROOT / "bench"))
    import inventory_bench
    from django.core.management import call_command

    inventory_bench.setup_django()
    call_command("migrate", verbosity=0)
    return inventory_bench


def api_writer() -> tuple[str, str]:
    """A data scientist with an API token, a member of every team the bench registers into: (username, token)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from apps.core.services import api_token_issue
    from apps.inventory.models import Team

    user = get_user_model().objects.create(username="bench-api", email="api@example.org")
    user.groups.add(Group.objects.get(name="data_scientist"))
    user.teams.set(Team.objects.all())
    return user.username, api_token_issue(user=user).key


def start_portal(folder: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CACHE_"))}
    env.update({
        "PORTAL_VAR_DIR": str(folder),
        "DJANGO_SETTINGS_MODULE": "mlops_portal.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "PORTAL_API_USER_RATE": "1000000/min",
    })
    cmd = [sys.executable, "-m", "gunicorn", "mlops_portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", "1", "--timeout", "120", "--no-control-socket"]
    log = folder / "gunicorn.log"
    process = start(cmd, env=env, log=log, cwd=ROOT)
    wait_until_up(port, "/healthz", process, log)
    return process


def portal_register(client: Client, name: str, *, purpose: str, owner: str, team: str, tag: str) -> tuple[str, float]:
    model, first = client.json("POST", "/api/v1/models/", {
        "name": name, "purpose": purpose, "accountable_owner": owner, "team": team, "tags": [tag],
    }, expect=201)
    _, second = client.json("POST", "/api/v1/model-versions/", {
        "model": model["slug"], "version": "1.0.0", "artifact_uri": f"s3://bench/models/{model['slug']}/1.0.0",
        "validated_environment": {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1"}},
    }, expect=201)
    return model["slug"], first + second


def seeded_models(names: set[str]) -> list[dict]:
    """The models called ``names`` as the portal stores them, with tags and versions (oldest first)."""
    from apps.inventory.models import MLModel, ModelVersion

    models = {m["pk"]: {**m, "tags": [], "versions": []} for m in MLModel.objects.filter(name__in=names).values(
        "pk", "name", "slug", "purpose", "created_at", "updated_at")}
    for pk, tag in MLModel.tags.through.objects.filter(mlmodel_id__in=models).values_list("mlmodel_id", "tag__name"):
        models[pk]["tags"].append(tag)
    for v in ModelVersion.objects.filter(model_id__in=models).order_by("created_at", "pk").values(
            "model_id", "version", "stage", "created_at", "updated_at"):
        models[v["model_id"]]["versions"].append(v)
    return list(models.values())


# --- The run ----------------------------------------------------------------------------------

def register_alternating(names: list[str], registers: dict) -> dict:
    """Registers each name in every system in turn (as the reads alternate), so both see the same machine.

    ``registers`` maps a system to ``register(index, name) -> seconds``; the rate is models per second of
    that system's own request time.
    """
    print(f"# registering {len(names):,} models with one version each, alternating systems", flush=True)
    timings = {system: [] for system in registers}
    for index, name in enumerate(names):
        for system, register in registers.items():
            timings[system].append(register(index, name))
    return {system: {**summary(spent), "rate": len(spent) / sum(spent), "spent": sum(spent)}
            for system, spent in timings.items()}


def group_cpu_seconds(pgid: int) -> float:
    """CPU time used so far by the processes of a process group (Linux ``/proc``)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while listed
        if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp ... utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pgids: list[int], *, quiet: float = 0.02, seconds: int = 3, limit: float = 120.0) -> None:
    """Wait until the servers' process groups use under ``quiet`` of a core for ``seconds`` seconds in a row.

    MLflow's server starts background job consumers (huey) that are still importing for some
    seconds after it answers /health; timing the portal meanwhile would charge it their start-up.
    """
    deadline, calm = time.monotonic() + limit, 0
    before = sum(map(group_cpu_seconds, pgids))
    while calm < seconds and time.monotonic() < deadline:
        time.sleep(1)
        now = sum(map(group_cpu_seconds, pgids))
        calm = calm + 1 if now - before < quiet else 0
        before = now


def reads(slug: str) -> list[dict]:
    """Each read: a name, the portal path, the MLflow path, and how to list the names of a page (None: one model)."""
    portal_names = lambda body: [m["name"] for m in body["results"]]  # noqa: E731
    mlflow_names = lambda body: [m["name"] for m in body.get("registered_models", [])]  # noqa: E731
    return [
        {"name": f"first page of the list ({PAGE_SIZE} models)", "portal": "/api/v1/models/",
         "mlflow": mlflow_search({"max_results": PAGE_SIZE}), "names": (portal_names, mlflow_names)},
        {"name": f"name contains '{SEARCH}' (first page)", "portal": f"/api/v1/models/?q={quote(SEARCH)}",
         "mlflow": mlflow_search({"max_results": PAGE_SIZE, "filter": f"name ILIKE '%{SEARCH}%'"}),
         "names": (portal_names, mlflow_names)},
        {"name": f"tag filter {TAG} (first page)", "portal": f"/api/v1/models/?tag={TAG}",
         "mlflow": mlflow_search({"max_results": PAGE_SIZE, "filter": f"tags.`{TAG}` = 'true'"}),
         "names": (portal_names, mlflow_names)},
        {"name": f"get one model ('{PROBE}', 5 versions)", "portal": f"/api/v1/models/{slug}/",
         "mlflow": f"{MLFLOW_API}/registered-models/get?name={quote(PROBE)}",
         "names": (lambda body: [body["name"]], lambda body: [body["registered_model"]["name"]])},
    ]


def time_reads(portal: Client, mlflow: Client, read: dict, repeats: int) -> dict:
    """Checks both answer with the same models, warms up, then times ``repeats`` requests, alternating systems."""
    portal_body, _ = portal.json("GET", read["portal"])
    mlflow_body, _ = mlflow.json("GET", read["mlflow"])
    portal_names, mlflow_names = read["names"][0](portal_body), read["names"][1](mlflow_body)
    if portal_names != mlflow_names or not portal_names:
        raise SystemExit(f"{read['name']}: the systems disagree or find nothing:\nportal {portal_names}\n"
                         f"MLflow {mlflow_names}")
    sizes = {}
    for client, path, key in ((portal, read["portal"], "portal"), (mlflow, read["mlflow"], "mlflow")):
        for _ in range(WARMUP):
            _, payload, _ = client.call("GET", path)
        sizes[key] = len(payload)
    timings = {"portal": [], "mlflow": []}
    for _ in range(repeats):
        for client, path, key in ((portal, read["portal"], "portal"), (mlflow, read["mlflow"], "mlflow")):
            status, _, elapsed = client.call("GET", path)
            if status != 200:
                raise SystemExit(f"{read['name']}: {key} answered HTTP {status}")
            timings[key].append(elapsed)
    return {"name": read["name"], "found": len(portal_names), "bytes": sizes,
            "portal": summary(timings["portal"]), "mlflow": summary(timings["mlflow"])}


def run(args, folder: Path) -> int:
    version = ensure_mlflow(args.mlflow_venv, mlflow_requirement())
    bench = prepare_portal(folder)
    from django.db import transaction

    seeder = bench.Seeder(args.versions_per_model)
    with transaction.atomic():
        seeder.organisation()
    username, token = api_writer()
    owners = [u.username for u in seeder.users if u.is_active]
    portal_process = mlflow_process = None
    try:
        portal_process = start_portal(folder, free_port())
        mlflow_process = start_mlflow(args.mlflow_venv, folder, free_port())
        portal = Client(int(portal_process.args[portal_process.args.index("--bind") + 1].rsplit(":", 1)[1]),
                        {"Authorization": f"Token {token}"})
        mlflow = Client(int(mlflow_process.args[mlflow_process.args.index("--port") + 1]))
        wait_until_idle([portal_process.pid, mlflow_process.pid])
        load_before = os.getloadavg()

        # (a) registration, one model at a time: the newest models, so the bulk seed below keeps its numbering.
        first_bulk = args.models - args.register
        names = [f"Model {i}" for i in range(first_bulk, args.models)]

        def purpose(index: int) -> str:
            return f"Predict outcome {first_bulk + index} for the business."

        def tag(index: int) -> str:
            return f"tag-{index % 30}"

        registration = register_alternating(names, {
            "portal": lambda i, name: portal_register(
                portal, name, purpose=purpose(i), owner=owners[i % len(owners)], team=f"team-{i % 30}", tag=tag(i))[1],
            "mlflow": lambda i, name: mlflow_register(
                mlflow, name, slug=f"model-{first_bulk + i}", purpose=purpose(i), tag=tag(i)),
        })

        # (b) the rest in bulk: the portal's seeding, then the same models, tags and versions into MLflow's tables.
        print(f"# loading models 0..{first_bulk - 1:,} in bulk into both", flush=True)
        started = time.perf_counter()
        with transaction.atomic():
            for start_at in range(0, first_bulk, 2_500):
                seeder.portfolio(start_at, min(start_at + 2_500, first_bulk))
        mlflow_bulk_load(folder / "mlflow.db", seeded_models({f"Model {i}" for i in range(first_bulk)}))
        load_time = time.perf_counter() - started

        # (c)-(e) reads.
        results = []
        for read in reads("model-12"):
            print(f"# timing: {read['name']}", flush=True)
            results.append(time_reads(portal, mlflow, read, args.repeats))
        portal.close()
        mlflow.close()
        report(args, registration, results, version=version, seeded=seeder.counts, load_time=load_time,
               load_before=load_before)
    finally:
        stop(portal_process)
        stop(mlflow_process)
    return 0 if result_rows(registration, results)[2] else 1


def report(args, registration: dict, results: list[dict], *, version: str, seeded: dict, load_time: float,
           load_before: tuple) -> None:
    import django

    def load(averages) -> str:
        return "/".join(f"{n:.1f}" for n in averages)

    print()
    print(f"# Portal vs MLflow model registry, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(load average 1/5/15 min: {load(load_before)} at the start, {load(os.getloadavg())} at the end), "
          f"Python {platform.python_version()}, Django {django.get_version()}, MLflow {version}, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"# {args.models:,} models in each: {args.register:,} registered through the API (one version each), "
          f"the rest loaded in bulk in {load_time:.1f} s ({args.versions_per_model} versions each; portal: "
          + ", ".join(f"{n:,} {label}" for label, n in seeded.items() if label != "users") + ")")
    print("# portal: gunicorn, 1 sync worker, DEBUG off, token auth; MLflow: mlflow server --workers 1 (uvicorn); "
          f"both over HTTP on loopback; {args.repeats} timed requests per read after {WARMUP} warm-up, alternating")
    print("# ratio = MLflow time / portal time (> 1: the portal is faster)")
    print()
    head, rows, everywhere = result_rows(registration, results)
    print(table(head, rows))
    print()
    for r in results:
        print(f"- {r['name']}: {r['found']} model(s) on the first page, the same on both; response size portal "
              f"{r['bytes']['portal']:,} B, MLflow {r['bytes']['mlflow']:,} B")
    print(f"- registration, time in requests: portal {registration['portal']['spent']:.1f} s, "
          f"MLflow {registration['mlflow']['spent']:.1f} s (alternating, one model at a time)")
    print()
    print("Portal faster on every row: " + ("yes" if everywhere else "NO"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="MLflow is installed into --mlflow-venv on first use (not into .venv).")
    parser.add_argument("--models", type=int, default=10_000, help="models in each registry (default 10,000)")
    parser.add_argument("--register", type=int, default=1_000,
                        help="of which registered one by one through the API, for the rate (default 1,000)")
    parser.add_argument("--versions-per-model", type=int, default=5, help="versions of each bulk-loaded model")
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per read and system")
    parser.add_argument("--mlflow-venv", type=Path, default=MLFLOW_VENV, help=f"default {MLFLOW_VENV}")
    args = parser.parse_args(argv)
    if not 0 < args.register <= args.models - 100:
        parser.error("--register must be positive and leave at least 100 models for the bulk load")
    folder = Path(tempfile.mkdtemp(prefix="portal-mlflow-bench-"))
    try:
        return run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

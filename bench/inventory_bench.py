"""Inventory scale benchmark: `.venv/bin/python bench/inventory_bench.py [--models 100000 --keep]`.

Seeds a portfolio the size of a large organisation (by default 10,000 models, 50,000
versions, ~12,000 deployments, risk assessments for ~80% of the models, reviews, a few
hundred open alerts, and every model's and version's stored governance state) and times the
pages an executive reads most: the inventory list (plain, filtered and sorted, page 100, and
by the stored governance state: status, health, reason code, sorted by severity), a model page,
a business-process page, the dashboard, and the model API (list, filtered, by governance state,
detail). The reference, measured in the same run, is the same pages on a small portfolio (100
models, same organisation): no page may run more SQL queries at the large size than at the small
one (a count that grows with the data is an N+1; the dashboard runs fewer when fewer red-flag
sources can reach its first 25), and the p95 at the large size must stay under 150 ms. Prints a
markdown table (ratio = p50 large / p50 small) and, for each page over target, its three
slowest queries; exits with status 1 when a page misses either goal.

Times are server time in-process: ``time.perf_counter`` around ``django.test.Client.get``,
i.e. middleware, view, SQL and template rendering, without a network or a WSGI server. The
app is started by importing ``mlops_portal.wsgi`` as gunicorn does; ``DEBUG`` is off as in
production, so no SQL is logged while timing. Per page: 3 warm-up requests, one request
whose queries are counted and timed one by one, then 30 timed requests (``n``); a page slower
than a second gets fewer, as many as fit in a minute, so one slow page cannot stall the run.

Databases (``Databases``): two, the small portfolio and a copy of it grown to the large one;
fresh SQLite files in a temporary folder (the embedded default), deleted at the end; any other
``DATABASE_URL`` is ignored, so the portal's own data is never touched. With
``DATABASE_URL=postgres://user[:password]@host:port/name`` the benchmark connects to that
server's ``postgres`` database and creates its own databases (the role needs CREATEDB),
dropped at the end. ``--keep`` keeps them for the next run of the same size (SQLite under
``var/inventory-bench/`` of the checkout; PostgreSQL as ``<name>_small`` and
``<name>_<models>x<versions>``): seeding 100,000 models takes many minutes, and a kept database
gets the migrations added since. PostgreSQL gets an ``ANALYZE`` before measuring, as autovacuum
would give a live server; SQLite only with ``--analyze``, as Django never runs it.

The seeded rows are test data for a benchmark, not governed data: they are written with
``bulk_create`` straight into the tables, bypassing the services and the audit trail. The
stored governance state is computed by the pure rules (``apps.inventory.governance``) from the
facts seeded, in memory, and written in bulk like the rest.
"""

import argparse
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_P95 = 0.150
WARMUP = 3
REPEATS = 30
PAGE_BUDGET = 60.0  # seconds of timed requests per page at most
SMALL_MODELS = 100
# The model the single-model pages open and the filtered lists find ("Model 12"): it exists
# in both portfolios and is seeded the same way in both, so its pages do the same work.
PROBE = 12
BATCH = 2000

FINGERPRINT = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1", "numpy": "2.2.0"}}
DRIFTED = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.5.0", "numpy": "2.2.0"}}
DRIFT_DETAILS = [{"component": "scikit-learn", "validated": "1.6.1", "runtime": "1.5.0"}]
STAGE_WEIGHTS = {"development": 25, "validation": 15, "staging": 15, "production": 35, "retired": 10}


# --- Database ------------------------------------------------------------------------------

class Databases:
    """The two databases of a run: the reference portfolio (``SMALL_MODELS``) and the large one.

    By default both are made fresh and dropped at the end: SQLite files in a temporary folder, or on
    PostgreSQL (``DATABASE_URL``) databases ``portal_bench_<pid>_small`` / ``_large`` created through the
    server's ``postgres`` database. With ``keep`` they are kept and reused by the next run of the same size
    (seeding 100,000 models takes many minutes): SQLite files ``var/inventory-bench/{small,<models>x<versions>}
    .sqlite3`` of the checkout, or databases ``<name in the URL>_small`` / ``_<models>x<versions>``.
    """

    def __init__(self, *, models: int, versions_per_model: int, keep: bool):
        os.environ["PORTAL_VAR_DIR"] = tempfile.mkdtemp(prefix="portal-inventory-bench-")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_portal.settings")
        self.keep = keep
        url = os.environ.get("DATABASE_URL", "")
        size = f"{models}x{versions_per_model}"
        self.admin_url = None
        if url.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(url)
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))
            prefix = parts.path.strip("/") if keep else f"portal_bench_{os.getpid()}"
            self.small, self.large = f"{prefix}_small", f"{prefix}_{size if keep else 'large'}"
            os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.small}"))
        else:
            os.environ.pop("DATABASE_URL", None)
            folder = ROOT / "var" / "inventory-bench" if keep else Path(os.environ["PORTAL_VAR_DIR"])
            folder.mkdir(parents=True, exist_ok=True)
            self.small, self.large = str(folder / "small.sqlite3"), str(folder / f"{size}.sqlite3")

    def _admin(self, *statements: str) -> None:
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def exists(self, name: str) -> bool:
        if self.admin_url is None:
            return Path(name).exists()
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    def create(self, name: str, *, copy_of: str | None = None) -> None:
        """A new empty database ``name``, or a copy of ``copy_of``; an old one of that name is dropped first."""
        from django.db import connections

        if self.admin_url is not None:
            template = f' TEMPLATE "{copy_of}"' if copy_of else ""
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"{template}')
            return
        connections.close_all()
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
        if copy_of:
            shutil.copyfile(copy_of, name)

    def use(self, name: str) -> None:
        """Point Django's connection at ``name`` (the next query opens it)."""
        from django.db import connection, connections

        connections.close_all()
        connection.settings_dict["NAME"] = name

    def drop_all(self) -> None:
        if self.admin_url is not None and not self.keep:
            self._admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in (self.small, self.large)))
        shutil.rmtree(os.environ["PORTAL_VAR_DIR"], ignore_errors=True)


def setup_django() -> None:
    """Start the app as gunicorn does (importing the WSGI module), so start-up tuning there is measured too."""
    from django.conf import settings

    import mlops_portal.wsgi  # noqa: F401

    # As in production: no SQL log kept per query, no template debug information.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


# --- Seeding -------------------------------------------------------------------------------

class Seeder:
    """Writes a deterministic portfolio with ``bulk_create``: benchmark test data, not governed data.

    ``organisation()`` writes what both portfolios share (people, units, teams, processes,
    data sets, tags); ``portfolio(start, stop)`` adds models ``start..stop-1`` with their
    versions, deployments and governance rows, so the large portfolio is the small one plus more.
    """

    def __init__(self, versions_per_model: int, seed: int = 7):
        from django.utils import timezone

        self.versions_per_model = versions_per_model
        self.rng = random.Random(seed)  # noqa: S311 - seeded sample data, not a secret
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.counts: dict[str, int] = {}

    def save(self, model_class, objects: list) -> list:
        created = model_class.objects.bulk_create(objects, batch_size=BATCH)
        label = model_class._meta.verbose_name_plural
        self.counts[label] = self.counts.get(label, 0) + len(created)
        return created

    def organisation(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password

        from apps.inventory.models import BusinessProcess, BusinessUnit, DataSet, PipelineStep, Tag, Team
        from apps.risk.models import GovernancePolicy, RiskMatrix

        rng = self.rng
        User = get_user_model()
        no_login = make_password(None)
        self.users = self.save(User, [
            User(username=f"bench-user-{i}", password=no_login, first_name=f"First{i}", last_name=f"Last{i}",
                 # Some owners left (inactive), a few cannot be reached (no e-mail on record).
                 email="" if i % 37 == 0 else f"bench-user-{i}@example.org", is_active=i % 20 != 0)
            for i in range(400)
        ])
        units = self.save(BusinessUnit, [BusinessUnit(name=f"Unit {i}", slug=f"unit-{i}") for i in range(6)])
        self.teams = self.save(Team, [
            Team(name=f"Team {i}", slug=f"team-{i}", business_unit=units[i % len(units)]) for i in range(30)
        ])
        self.processes = self.save(BusinessProcess, [
            BusinessProcess(name=f"Process {i}", slug=f"process-{i}", business_unit=units[i % len(units)],
                            decision="approve or decline", decisions_per_day=rng.randint(10, 50_000),
                            value_at_stake=rng.randint(10_000, 50_000_000))
            for i in range(200)
        ])
        self.datasets = self.save(DataSet, [
            DataSet(name=f"dataset-{i}", slug=f"dataset-{i}-v1", version="v1", source_system="warehouse",
                    kind=DataSet.Kind.DERIVED if i >= 700 else DataSet.Kind.RAW,
                    contains_personal_data=i % 3 == 0, schema=[{"name": "age", "type": "int"}])
            for i in range(1000)
        ])
        raw, derived = self.datasets[:700], self.datasets[700:]
        steps = self.save(PipelineStep, [
            PipelineStep(name=f"step-{i}", slug=f"step-{i}", output=output) for i, output in enumerate(derived)
        ])
        self.save(PipelineStep.inputs.through, [
            PipelineStep.inputs.through(pipelinestep_id=step.pk, dataset_id=dataset.pk)
            for step in steps for dataset in rng.sample(raw, 2)
        ])
        self.tags = self.save(Tag, [Tag(name=f"tag-{i}") for i in range(30)])
        self.matrix = RiskMatrix.objects.order_by("-version").first()
        self.policies = {p.tier: p for p in GovernancePolicy.objects.order_by("tier", "version")}

    def model_stage(self, index: int) -> str:
        if index == PROBE:
            return "production"
        return self.rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]

    def portfolio(self, start: int, stop: int) -> None:
        from apps.inventory.models import AutomationLevel, Exposure, MLModel, TaskType

        rng = self.rng
        models = self.save(MLModel, [
            MLModel(name=f"Model {i}", slug=f"model-{i}", purpose=f"Predict outcome {i} for the business.",
                    accountable_owner=rng.choice(self.users), team=rng.choice(self.teams),
                    stage=self.model_stage(i), exposure=rng.choice(Exposure.values),
                    automation_level=rng.choice(AutomationLevel.values), task_type=rng.choice(TaskType.values))
            for i in range(start, stop)
        ])
        self.model_relations(models)
        versions = self.versions(models)
        self.deployments(models, versions)
        self.governance(models, versions)

    def model_relations(self, models: list) -> None:
        from apps.inventory.models import MLModel

        rng = self.rng
        self.save(MLModel.technical_owners.through, [
            MLModel.technical_owners.through(mlmodel_id=m.pk, user_id=u.pk)
            for m in models for u in rng.sample(self.users, rng.randint(1, 2))
        ])
        self.save(MLModel.business_processes.through, [
            MLModel.business_processes.through(mlmodel_id=m.pk, businessprocess_id=p.pk)
            for m in models if m.name == f"Model {PROBE}" or rng.random() < 0.7
            for p in rng.sample(self.processes, rng.randint(1, 2))
        ])
        self.save(MLModel.tags.through, [
            MLModel.tags.through(mlmodel_id=m.pk, tag_id=t.pk)
            for m in models for t in rng.sample(self.tags, rng.randint(0, 3))
        ])

    def versions(self, models: list) -> dict[int, list]:
        """Each model's versions, oldest first; the newest carries the model's stage, older ones are retired
        or still in development (the model's stage is its most advanced live version's)."""
        from apps.inventory.models import ModelVersion, StageTransition

        rng = self.rng
        rows = []
        for model in models:
            for k in range(self.versions_per_model):
                newest = k == self.versions_per_model - 1
                if newest or model.stage == "retired":
                    stage = model.stage
                else:
                    stage = "development" if rng.random() < 0.25 else "retired"
                rows.append(ModelVersion(
                    model=model, version=f"1.{k}.0", stage=stage, algorithm="gradient boosted trees",
                    framework="scikit-learn 1.6.1", validated_environment=dict(FINGERPRINT),
                    validation_metrics={"roc_auc": round(rng.uniform(0.6, 0.95), 3)},
                ))
        created = self.save(ModelVersion, rows)
        by_model: dict[int, list] = {}
        for version in created:
            by_model.setdefault(version.model_id, []).append(version)
        self.save(StageTransition, [
            StageTransition(version=v, from_stage="" if v.stage == "development" else "development",
                            to_stage=v.stage, reason="seeded", at=self.now - timedelta(days=rng.randint(1, 700)))
            for v in created
        ])
        # Production versions sometimes have no training data recorded (a red flag).
        self.save(ModelVersion.training_datasets.through, [
            ModelVersion.training_datasets.through(modelversion_id=v.pk, dataset_id=d.pk)
            for v in created if not (v.stage == "production" and rng.random() < 0.05)
            for d in rng.sample(self.datasets, rng.randint(1, 2))
        ])
        return by_model

    def deployment(self, version, environment: str, *, retired: bool = False, process=None):
        from apps.inventory.models import Deployment

        rng = self.rng
        roll = rng.random()
        drifted, unrecorded = roll < 0.08, 0.08 <= roll < 0.10
        return Deployment(
            version=version, environment=environment, target=f"https://models.internal/{version.pk}/{environment}",
            business_process=process, deployed_at=self.now - timedelta(days=rng.randint(1, 500)),
            retired_at=self.now - timedelta(days=1) if retired else None,
            runtime_environment={} if unrecorded else dict(DRIFTED if drifted else FINGERPRINT),
            environment_mismatch=drifted, mismatch_details=DRIFT_DETAILS if drifted else [],
        )

    def deployments(self, models: list, versions: dict[int, list]) -> None:
        """About 1.2 deployments per model: production models run in production (often staging too) and
        keep their previous version's retired deployment; staging, validation and retired models have one."""
        from apps.inventory.models import Deployment

        rng = self.rng
        rows = []
        for model in models:
            history = versions[model.pk]
            newest = history[-1]
            if model.stage == "production":
                process = rng.choice(self.processes) if rng.random() < 0.8 else None
                rows.append(self.deployment(newest, "production", process=process))
                if rng.random() < 0.5:
                    rows.append(self.deployment(newest, "staging"))
                if len(history) > 1:
                    rows.append(self.deployment(history[-2], "production", retired=True, process=process))
            elif model.stage == "staging":
                rows.append(self.deployment(newest, "staging"))
            elif model.stage == "validation" and rng.random() < 0.5:
                rows.append(self.deployment(newest, "development"))
            elif model.stage == "retired":
                rows.append(self.deployment(newest, "production", retired=True))
        self.save(Deployment, rows)
        # What the governance state reads of deployments: when a version went live, whether it runs drifted.
        self.live_since = {d.version_id: d.deployed_at for d in rows if d.retired_at is None}
        self.mismatched = {d.version_id for d in rows if d.retired_at is None and d.environment_mismatch}

    def governance(self, models: list, versions: dict[int, list]) -> None:
        """Current risk assessments (four ratings each) for ~80% of models, reviews of live versions, alerts."""
        from apps.monitoring.models import Alert
        from apps.reviews.models import Review
        from apps.risk.models import RiskAssessment, RiskRating
        from apps.risk.scoring import RISKS, TIERS

        rng = self.rng
        assessed = [m for m in models if m.name == f"Model {PROBE}" or rng.random() < 0.8]
        assessments = self.save(RiskAssessment, [
            RiskAssessment(
                model=m, status="current", exposure=m.exposure, automation_level=m.automation_level,
                tier=(tier := rng.choice(TIERS)), base_tier=tier, matrix=self.matrix, policy=self.policies.get(tier),
                # About one in seven is overdue for re-assessment (a red flag).
                reassessment_due=self.today + timedelta(days=rng.randint(-60, 365)),
                submitted_at=self.now - timedelta(days=rng.randint(1, 300)),
            )
            for m in assessed
        ])
        self.save(RiskRating, [
            RiskRating(assessment=a, risk=risk, probability=rng.randint(1, 5), impact=rng.randint(1, 5),
                       severity=rng.choice(TIERS))
            for a in assessments for risk in RISKS
        ])
        reviews, alerts = [], []
        for model in models:
            for version in versions[model.pk]:
                state = self.review_state(version.stage, probe=model.name == f"Model {PROBE}")
                if state:
                    reviews.append(Review(version=version, state=state, checklists=["intentionality"],
                                          submitted_at=self.now, decided_at=self.now))
            newest = versions[model.pk][-1]
            if model.stage == "production" and (model.name == f"Model {PROBE}" or rng.random() < 0.08):
                severity = "breach" if rng.random() < 0.4 else "warning"
                alerts.append(Alert(model=model, version=newest, metric="overall.roc_auc", value=0.71,
                                    threshold="< 0.75", severity=severity, status="open",
                                    message="ROC AUC fell below the threshold."))
                alerts.append(Alert(model=model, version=newest, metric="drift.psi", value=0.3, threshold="> 0.2",
                                    severity="warning", status="resolved", message="Drift resolved."))
        self.save(Review, reviews)
        self.save(Alert, alerts)
        self.governance_state(models, versions, {a.model_id: a for a in assessments},
                              {r.version_id: r.state for r in reviews}, alerts)

    def policy(self, tier: str | None):
        from apps.inventory import governance as g

        stored = self.policies.get(tier or "critical")
        if stored is None:
            return g.Policy(tier, required_approvals=1)
        return g.Policy(tier, stored.required_approvals, tuple(stored.checklists), stored.monitoring_cadence,
                        stored.suspend_on_breach)

    def approval(self, review: str | None, policy):
        """Facts of an approved review round: mostly sound, a few void (content changed) or short of the tier."""
        from apps.inventory import governance as g

        if review != "approved":
            return None
        roll = self.rng.random()
        return g.Approval(content_matches=roll >= 0.03,
                          approvals=policy.required_approvals - (1 if 0.03 <= roll < 0.08 else 0),
                          required=policy.required_approvals,
                          decided_at=self.now - timedelta(days=self.rng.randint(30, 300)))

    def evidence(self, cadence: str):
        """The newest production evidence: mostly within the cadence, some lapsed, some never (None)."""
        from apps.inventory import governance as g

        roll = self.rng.random()
        if roll < 0.15:
            return None
        if roll < 0.35:
            return self.now - timedelta(days=self.rng.randint(60, 200))
        return self.now - timedelta(hours=self.rng.uniform(1, 24 * g.CADENCE_DAYS.get(cadence, 31)))

    def governance_state(self, models: list, versions: dict[int, list], assessments: dict, reviews: dict,
                         alerts: list) -> None:
        """Each model's and version's stored state, computed by the pure rules (``apps.inventory.governance``) from
        the facts just seeded, as ``governance_refresh`` would store it but without a query per model."""
        from apps.inventory import governance as g
        from apps.inventory.models import ModelGovernance, VersionGovernance

        rng = self.rng
        open_alerts: dict[int, list] = {}
        for alert in alerts:
            if alert.status == "open":
                open_alerts.setdefault(alert.version_id, []).append(alert.severity)
        model_rows, version_rows = [], []
        for model in models:
            assessment = assessments.get(model.pk)
            tier = assessment.tier if assessment else ""
            policy = self.policy(tier or None)
            facts = g.ModelFacts(
                name=model.name, assessed=assessment is not None,
                reassessment_due=assessment.reassessment_due if assessment else None,
                owner_active=model.accountable_owner.is_active, owner_name=model.accountable_owner.get_full_name())
            states = []
            for version in versions[model.pk]:
                severities = open_alerts.get(version.pk, [])
                breaches = severities.count("breach")
                state = g.version_state(g.VersionFacts(
                    label=version.version, stage=version.stage, policy=policy,
                    approval=self.approval(reviews.get(version.pk), policy),
                    in_production_since=self.live_since.get(version.pk),
                    last_evidence_at=self.evidence(policy.monitoring_cadence)
                    if version.stage == "production" else None,
                    open_breaches=breaches, open_warnings=len(severities) - breaches,
                    last_breach_at=self.now - timedelta(days=rng.randint(1, 20)) if breaches else None,
                    environment_mismatch=version.pk in self.mismatched,
                ), facts, now=self.now)
                states.append((version.version, version.stage, state))
                version_rows.append(VersionGovernance(version=version, tier=tier, gate_open=state.gate_open,
                                                      **self.stored(state, model)))
            state = g.model_state(facts, states, now=self.now)
            model_rows.append(ModelGovernance(model=model, tier=tier, **self.stored(state, model)))
        self.save(ModelGovernance, model_rows)
        self.save(VersionGovernance, version_rows)

    def stored(self, state, model) -> dict:
        from apps.governance.services import codes_field
        from apps.inventory import governance as g

        url = f"/inventory/models/{model.slug}/"
        return {"status": state.status, "health": state.health, "approval": state.approval,
                "reasons": [{**r.as_dict(), "url": url} for r in state.reasons],
                "reason_codes": codes_field(r.code for r in state.reasons), "rank": g.ORDER[state.status],
                "recheck_at": state.recheck_at, "computed_at": self.now}

    def review_state(self, stage: str, *, probe: bool) -> str | None:
        roll = self.rng.random()
        if stage == "production":
            return "approved" if probe or roll < 0.9 else "expired" if roll < 0.94 else None
        if stage == "staging":
            return "in_review" if roll < 0.5 else "approved" if roll < 0.8 else None
        if stage == "validation":
            return "submitted" if roll < 0.2 else None
        return None


def analyze(sqlite: bool) -> None:
    """Give the query planner statistics: always on PostgreSQL (autovacuum would), on SQLite on request."""
    from django.db import connection

    if connection.vendor == "postgresql" or sqlite:
        with connection.cursor() as cursor:
            # VACUUM too on PostgreSQL, as autovacuum would after bulk writes (index-only scans need it).
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def executive():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, created = get_user_model().objects.get_or_create(
        username="bench-executive",
        defaults={"first_name": "Eve", "last_name": "Executive", "email": "eve@example.org"})
    if created:
        user.groups.add(Group.objects.get(name="executive"))
    return user


# --- Measuring -----------------------------------------------------------------------------

def pages(slug: str, process: str) -> list[tuple[str, str]]:
    return [
        ("inventory list", "/inventory/"),
        ("inventory list filtered+sorted", "/inventory/?stage=production&sort=-updated&q=model%2012"),
        ("inventory list page 100", "/inventory/?page=100"),
        ("list governance=non_compliant", "/inventory/?governance=non_compliant"),
        ("list health=no_evidence", "/inventory/?health=no_evidence"),
        ("list reason=monitoring_overdue", "/inventory/?reason=monitoring_overdue"),
        ("list sort=-governance", "/inventory/?sort=-governance"),
        ("model page", f"/inventory/models/{slug}/"),
        ("business process", f"/inventory/processes/{process}/"),
        ("dashboard", "/inventory/dashboard/"),
        ("API list", "/api/v1/models/"),
        ("API list filtered", "/api/v1/models/?stage=production&search=model%2012"),
        ("API list governance=suspended", "/api/v1/models/?governance=suspended"),
        ("API detail", f"/api/v1/models/{slug}/"),
    ]


class QueryTimer:
    """An execute wrapper that times every query of a request (``connection.execute_wrapper``)."""

    def __init__(self):
        self.queries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql))


def measure(client, url: str) -> dict:
    """Warm up, count and time the page's queries on one request, then time ``REPEATS`` requests.

    A page slower than a second gets no further warm-up and only as many timed requests as fit
    in ``PAGE_BUDGET`` (at least 3), so a page far over target cannot stall the run.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    response = client.get(url)
    first = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    for _ in range(WARMUP - 1 if first < 1 else 0):
        client.get(url)
    timer = QueryTimer()
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        client.get(url)
    # Read now: the next request clears the connection's query log.
    queries = len(captured.captured_queries)
    timings = []
    for _ in range(max(3, min(REPEATS, int(PAGE_BUDGET / first)))):
        started = time.perf_counter()
        client.get(url)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return {
        "queries": queries,
        "sql": sum(t for t, _ in timer.queries),
        "slowest": sorted(timer.queries, key=lambda q: q[0], reverse=True)[:3],
        "n": len(timings),
        "p50": statistics.median(timings),
        "p95": timings[math.ceil(0.95 * len(timings)) - 1],
    }


def measure_all(slug: str, process: str) -> dict[str, dict]:
    """Every page, as the executive, on the database Django is pointed at."""
    from django.test import Client

    client = Client()
    client.force_login(executive())
    return {name: measure(client, url) for name, url in pages(slug, process)}


# --- Report --------------------------------------------------------------------------------

def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def machine() -> str:
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
        db_version = cursor.fetchone()[0]
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    return (f"# {platform.platform()}, {cpu}, {os.cpu_count()} cores (load average {load}), "
            f"Python {platform.python_version()}, Django {django.get_version()}, {connection.vendor} {db_version}")


def report(small: dict, large: dict, *, models: int, seeded: dict, seed_time: float | None, analyzed: bool) -> bool:
    from django.db import connection

    print(f"# Inventory scale benchmark, {time.strftime('%Y-%m-%d')}")
    print(machine())
    when = f"seeded in {seed_time:.1f} s" if seed_time is not None else "kept from an earlier run (--keep)"
    print(f"# {when}: " + ", ".join(f"{n:,} {label}" for label, n in seeded.items()))
    print(f"# planner statistics (ANALYZE): {'yes' if analyzed else 'no, as Django leaves a SQLite database'}")
    print(f"# server time in-process (django.test.Client, DEBUG off); per page {WARMUP} warm-up requests, one "
          f"request counted and its SQL timed, then n timed requests; reference = the same page with "
          f"{SMALL_MODELS} models; ratio = p50 large / p50 small")
    print()
    head = ["page", f"queries {SMALL_MODELS}", f"queries {models:,}", "p50 small", "p95 small",
            "p50 large", "p95 large", "SQL large", "n", "ratio", "p95 < 150 ms"]
    widths = [max(len(h), w) for h, w in zip(head, [30, 0, 0, 10, 10, 10, 10, 10, 3, 7, 0], strict=True)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    ok = True
    for name, big in large.items():
        ref = small[name]
        bounded = big["queries"] <= ref["queries"]
        passed = big["p95"] < TARGET_P95
        ok = ok and bounded and passed
        cells = [name, str(ref["queries"]), f"{big['queries']}{'' if bounded else ' (!)'}", fmt(ref["p50"]),
                 fmt(ref["p95"]), fmt(big["p50"]), fmt(big["p95"]), fmt(big["sql"]), str(big["n"]),
                 f"{big['p50'] / ref['p50']:.1f}x", "PASS" if passed else "FAIL"]
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |")
    print()
    bounded = all(large[n]["queries"] <= small[n]["queries"] for n in large)
    print(f"No page runs more queries at {models:,} models than at {SMALL_MODELS}: "
          + ("yes" if bounded else "NO (marked (!))"))
    for name, big in large.items():
        if big["p95"] >= TARGET_P95:
            print(f"\n## {name}: p95 {fmt(big['p95'])}, SQL {fmt(big['sql'])} of one request "
                  f"({connection.vendor}); slowest queries:")
            for seconds, sql in big["slowest"]:
                print(f"- {fmt(seconds)}: {sql[:600]}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions-per-model", type=int, default=5)
    parser.add_argument("--analyze", action="store_true",
                        help="run ANALYZE on SQLite too (PostgreSQL always gets it, as autovacuum would)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded databases and reuse them in the next run of the same size")
    args = parser.parse_args()
    if args.models <= SMALL_MODELS:
        parser.error(f"--models must be more than the reference's {SMALL_MODELS}")

    databases = Databases(models=args.models, versions_per_model=args.versions_per_model, keep=args.keep)
    try:
        setup_django()
        return run(databases, args.models, args.versions_per_model, analyze_sqlite=args.analyze)
    finally:
        databases.drop_all()


def seeded(databases: Databases, models: int) -> bool:
    """Whether a kept large database was seeded to the end (its last model has its governance state)."""
    from apps.inventory.models import ModelGovernance

    if not (databases.keep and databases.exists(databases.small) and databases.exists(databases.large)):
        return False
    databases.use(databases.large)
    try:
        return ModelGovernance.objects.filter(model__slug=f"model-{models - 1}").exists()
    except Exception:  # noqa: BLE001 - an unmigrated or half-written copy: seed again
        return False


def seed(databases: Databases, models: int, versions_per_model: int) -> float:
    """Both portfolios, the large one a copy of the small one plus more models; returns the seconds it took."""
    from django.core.management import call_command
    from django.db import transaction

    seeder = Seeder(versions_per_model)
    started = time.perf_counter()
    databases.create(databases.small)
    databases.use(databases.small)
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        seeder.organisation()
        seeder.portfolio(0, SMALL_MODELS)
        executive()
    databases.create(databases.large, copy_of=databases.small)
    databases.use(databases.large)
    with transaction.atomic():
        for start in range(SMALL_MODELS, models, 2_500):
            seeder.portfolio(start, min(start + 2_500, models))
    return time.perf_counter() - started


def prepare(name: str, databases: Databases, *, analyze_sqlite: bool) -> None:
    """Point at ``name``, apply migrations added since it was seeded, and give the planner statistics."""
    from django.core.management import call_command

    databases.use(name)
    call_command("migrate", verbosity=0)
    # Rows written in bulk (or kept from before the figures were stored): their red flags and tallies.
    call_command("store_portfolio_figures", verbosity=0)
    analyze(analyze_sqlite)


def table_counts() -> dict[str, int]:
    from apps.inventory.models import Deployment, MLModel, ModelGovernance, ModelVersion, VersionGovernance
    from apps.monitoring.models import Alert
    from apps.reviews.models import Review
    from apps.risk.models import RiskAssessment

    return {model._meta.verbose_name_plural: model.objects.count()
            for model in (MLModel, ModelVersion, Deployment, RiskAssessment, Review, Alert, ModelGovernance,
                          VersionGovernance)}


def run(databases: Databases, models: int, versions_per_model: int, *, analyze_sqlite: bool) -> int:
    from apps.inventory.models import BusinessProcess

    seed_time = None
    if not seeded(databases, models):
        seed_time = seed(databases, models, versions_per_model)
    slug = f"model-{PROBE}"
    prepare(databases.small, databases, analyze_sqlite=analyze_sqlite)
    process = BusinessProcess.objects.filter(models__slug=slug).order_by("pk").values_list("slug", flat=True)[0]
    small = measure_all(slug, process)
    prepare(databases.large, databases, analyze_sqlite=analyze_sqlite)
    large = measure_all(slug, process)
    ok = report(small, large, models=models, seeded=table_counts(), seed_time=seed_time,
                analyzed=analyze_sqlite or databases.admin_url is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The inventory part of the demo portfolio, written through the inventory services.

Every validation metric is real: each demo model version is trained with
scikit-learn on one of the data sets bundled with it (no download), on a fixed
75/25 split, and scored on the held-out quarter. ``catalogue`` maps each
demo model to such a *training family*; hyperparameters are drawn from a
generator seeded with the model's name and version, so every run of the seed
produces the same numbers and a test can recompute them.
"""

import hashlib
import json
import pickle
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from sklearn import datasets, ensemble, linear_model, metrics, tree
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from apps.compliance.models import UseCase
from apps.core.roles import Role
from apps.core.services import audit_record
from apps.demo import intake as intake_demo
from apps.demo import reviews as reviews_demo
from apps.demo import risk as risk_demo
from apps.demo.catalogue import (
    BOOSTING,
    BREAST_CANCER,
    DATASETS,
    DEPARTED,
    DIABETES,
    DIGITS,
    DIGITS_ZERO,
    EXTRA_SCIENTISTS,
    FOREST,
    HIST_BOOSTING,
    IRIS,
    LOGREG,
    MODELS,
    PIPELINES,
    PROCESSES,
    RIDGE,
    TREE,
    UNITS,
    WINE,
    DataSetSpec,
    ModelSpec,
)
from apps.inventory import services
from apps.inventory.environment import current_fingerprint
from apps.inventory.models import (
    STAGE_ORDER,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Stage,
    TaskType,
)
from apps.risk.models import RiskAssessment

TEST_SIZE = 0.25
SPLIT_RANDOM_STATE = 42
# The whole portfolio is written in one transaction, so this model exists only if everything does.
MARKER_SLUG = slugify(MODELS[0].name)

# An older image some production jobs still run on: validated on today's stack, deployed on this one.
LEGACY_RUNTIME = {
    "python": "3.10.14",
    "os": "Linux",
    "packages": {"scikit-learn": "1.3.2", "numpy": "1.26.4", "pandas": "2.1.4", "scipy": "1.11.4"},
}
# One model went live through an admin override of the production gate (an incident fix);
# it stays on record as a red flag. Every other version passes the gate as a real one would.
EMERGENCY_SLUG = "mule-account-detection"
EMERGENCY_OVERRIDE = (
    "Incident INC-4711: mule network active; the new version goes live before its review round closes. "
    "Review to follow within five working days."
)
SENSITIVE_VALUES = {"sex": ("female", "male"), "age_band": ("18-34", "35-54", "55+")}


# --- Training -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    loader: str
    task: str
    title: str
    positive_digit: int | None = None  # turns the digits into "is it this digit?"


FAMILIES = {
    BREAST_CANCER: Family("load_breast_cancer", TaskType.BINARY, "breast cancer (Wisconsin)"),
    DIGITS_ZERO: Family("load_digits", TaskType.BINARY, "handwritten digits, as 'is it a 0?'", positive_digit=0),
    WINE: Family("load_wine", TaskType.MULTICLASS, "wine"),
    IRIS: Family("load_iris", TaskType.MULTICLASS, "iris"),
    DIGITS: Family("load_digits", TaskType.MULTICLASS, "handwritten digits"),
    DIABETES: Family("load_diabetes", TaskType.REGRESSION, "diabetes"),
}

ALGORITHM_LABELS = {
    LOGREG: "Logistic regression (standardised inputs)",
    RIDGE: "Ridge regression (standardised inputs)",
    FOREST: "Random forest",
    BOOSTING: "Gradient boosted trees",
    HIST_BOOSTING: "Histogram gradient boosting",
    TREE: "Decision tree",
}


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.y_train) + len(self.y_test)


@cache
def load_family(family: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole bundled data set ``(X, y)``, in scikit-learn's row order."""
    spec = FAMILIES[family]
    X, y = getattr(datasets, spec.loader)(return_X_y=True)
    if spec.positive_digit is not None:
        y = (y == spec.positive_digit).astype(int)
    return X, y


@cache
def load_split(family: str) -> Split:
    """The fixed train/test split every demo version of ``family`` is trained and scored on."""
    X, y = load_family(family)
    stratify = None if FAMILIES[family].task == TaskType.REGRESSION else y
    return Split(*train_test_split(X, y, test_size=TEST_SIZE, random_state=SPLIT_RANDOM_STATE, stratify=stratify))


def sensitive_attribute(family: str, name: str) -> np.ndarray:
    """A synthetic protected attribute for the rows of ``family`` (bundled order), from a seeded generator.

    The bundled data sets carry no protected attributes; later fairness checks use this one.
    """
    rng = np.random.default_rng(zlib.crc32(f"{family}:{name}".encode()))
    return rng.choice(SENSITIVE_VALUES[name], size=len(load_family(family)[1]))


def hyperparameters(algorithm: str, seed_text: str) -> dict:
    """Hyperparameters of one version, drawn deterministically from ``seed_text`` ("slug@version")."""
    rng = np.random.default_rng(zlib.crc32(seed_text.encode()))

    def pick(options):
        return options[int(rng.integers(len(options)))]

    random_state = int(rng.integers(1000))
    if algorithm == LOGREG:
        return {"C": round(float(10 ** rng.uniform(-2, 1)), 4), "max_iter": 5000}
    if algorithm == RIDGE:
        return {"alpha": round(float(10 ** rng.uniform(-1, 2)), 3)}
    if algorithm == FOREST:
        return {"n_estimators": pick([20, 30, 40]), "max_depth": pick([3, 4, 6, 8, None]),
                "min_samples_leaf": pick([1, 2, 4]), "random_state": random_state}
    if algorithm == BOOSTING:
        return {"n_estimators": pick([20, 30, 40]), "max_depth": pick([2, 3]),
                "learning_rate": pick([0.05, 0.1, 0.2]), "random_state": random_state}
    if algorithm == HIST_BOOSTING:
        return {"max_iter": pick([20, 30, 40]), "learning_rate": pick([0.05, 0.1, 0.2]),
                "max_leaf_nodes": pick([7, 15, 31]), "random_state": random_state}
    if algorithm == TREE:
        return {"max_depth": pick([3, 4, 5, 6]), "min_samples_leaf": pick([1, 5, 10]), "random_state": random_state}
    raise ValueError(f"Unknown algorithm {algorithm!r}")


def build_estimator(algorithm: str, task: str, params: dict):
    regression = task == TaskType.REGRESSION
    if algorithm in (LOGREG, RIDGE):
        if (algorithm == RIDGE) != regression:
            raise ValueError(f"{algorithm} does not fit a {task} task")
        estimator = linear_model.Ridge if regression else linear_model.LogisticRegression
        return make_pipeline(StandardScaler(), estimator(**params))
    classes = {
        FOREST: (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor),
        BOOSTING: (ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor),
        HIST_BOOSTING: (ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor),
        TREE: (tree.DecisionTreeClassifier, tree.DecisionTreeRegressor),
    }
    return classes[algorithm][regression](**params)


def evaluate(estimator, task: str, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Hold-out metrics: accuracy/F1/ROC AUC (binary), accuracy/macro F1 (multiclass), MAE/RMSE/R2."""
    predicted = estimator.predict(X)
    if task == TaskType.REGRESSION:
        return {
            "mae": float(metrics.mean_absolute_error(y, predicted)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
            "r2": float(metrics.r2_score(y, predicted)),
        }
    scores = {"accuracy": float(metrics.accuracy_score(y, predicted))}
    if task == TaskType.MULTICLASS:
        scores["f1_macro"] = float(metrics.f1_score(y, predicted, average="macro"))
        return scores
    scores.update({
        "precision": float(metrics.precision_score(y, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y, predicted)),
        "f1": float(metrics.f1_score(y, predicted)),
        "roc_auc": float(metrics.roc_auc_score(y, estimator.predict_proba(X)[:, 1])),
    })
    return scores


@dataclass(frozen=True)
class TrainingRun:
    metrics: dict
    artifact_sha256: str
    n_train: int
    n_test: int


@cache
def train(family: str, algorithm: str, params_json: str) -> TrainingRun:
    """Fit and score one estimator; cached, so a run never trains the same thing twice."""
    split, task = load_split(family), FAMILIES[family].task
    estimator = build_estimator(algorithm, task, json.loads(params_json))
    estimator.fit(split.X_train, split.y_train)
    return TrainingRun(
        metrics=evaluate(estimator, task, split.X_test, split.y_test),
        artifact_sha256=hashlib.sha256(pickle.dumps(estimator)).hexdigest(),
        n_train=len(split.y_train),
        n_test=len(split.y_test),
    )


DATASETS_BY_KEY = {spec.key: spec for spec in DATASETS}
HEADLINE_METRIC = {TaskType.BINARY: "roc_auc", TaskType.MULTICLASS: "f1_macro", TaskType.REGRESSION: "r2"}


# --- Plan: what each model's versions are, trained before anything is written ------------------

@dataclass(frozen=True)
class VersionPlan:
    label: str
    stage: str
    algorithm: str
    params: dict
    run: TrainingRun


def family_of(spec: ModelSpec) -> str:
    families = {DATASETS_BY_KEY[key].family for key in spec.data}
    if len(families) != 1 or None in families:
        raise ValueError(f"{spec.name}: its data sets must share one training family, not {families}")
    return families.pop()


def plan_versions(spec: ModelSpec) -> list[VersionPlan]:
    """Labels go 1.0.0, 1.1.0 (same algorithm, retuned), 2.0.0 (new algorithm), ..."""
    family, slug = family_of(spec), slugify(spec.name)
    plans, major, minor, previous = [], 0, 0, None
    for version in spec.versions:
        major, minor = (major, minor + 1) if version.algorithm == previous else (major + 1, 0)
        previous, label = version.algorithm, f"{major}.{minor}.0"
        params = hyperparameters(version.algorithm, f"{slug}@{label}")
        run = train(family, version.algorithm, json.dumps(params, sort_keys=True))
        plans.append(VersionPlan(label, version.stage, version.algorithm, params, run))
    return plans


# --- Writing ---------------------------------------------------------------------------------

def _stages_up_to(target: str) -> list[str]:
    """The transitions a new (development) version goes through to reach ``target``; retired ones
    reached production first and are retired later, when their successor goes live or at the end."""
    last = Stage.PRODUCTION if target == Stage.RETIRED else target
    return [s.value for s in STAGE_ORDER[1:STAGE_ORDER.index(last) + 1]]


class _Seeder:
    def __init__(self, plans: dict[str, list[VersionPlan]]):
        self.plans = plans
        self.specs = {spec.name: spec for spec in MODELS}
        self.now = timezone.now()
        self.fingerprint = current_fingerprint()
        self.users = {u.username: u for u in get_user_model().objects.all()}
        self.admin = self.users["admin"]
        self.units, self.teams, self.processes, self.datasets = {}, {}, {}, {}

    def run(self) -> None:
        self.add_scientists()
        self.add_organisation()
        self.add_processes()
        self.add_datasets()
        self.add_pipelines()
        for spec in MODELS:
            self.add_model(spec)
        intake_demo.seed_proposals(users=self.users, processes=self.processes)
        self.departed_leaves()

    def add_scientists(self) -> None:
        group = Group.objects.get(name=Role.DATA_SCIENTIST.value)
        for person in EXTRA_SCIENTISTS:
            if person.username in self.users:
                continue
            user = get_user_model()(username=person.username, first_name=person.first_name,
                                    last_name=person.last_name, email=f"{person.username}@example.org")
            user.set_unusable_password()  # colleagues who appear in the portfolio but do not log in
            user.save()
            user.groups.add(group)
            audit_record(actor=None, action="user.created", obj=user, reason="seed_demo",
                         changes={"username": [None, user.username], "role": [None, Role.DATA_SCIENTIST.value]})
            self.users[user.username] = user

    def add_organisation(self) -> None:
        for unit in UNITS:
            self.units[unit.name] = services.business_unit_create(
                actor=None, name=unit.name, description=unit.description)
            for team in unit.teams:
                # The owners the catalogue names for the team's models belong to it too: they registered them.
                owners = {spec.owner for spec in MODELS if spec.team == team.name and spec.owner}
                self.teams[team.name] = (services.team_create(
                    actor=None, name=team.name, business_unit=self.units[unit.name],
                    members=[self.users[m] for m in {*team.members, *owners}]), team.members)

    def add_processes(self) -> None:
        for spec in PROCESSES:
            self.processes[spec.key] = services.process_create(
                actor=None, name=spec.name, business_unit=self.units[spec.unit], decision=spec.decision,
                description=spec.description, decisions_per_day=spec.decisions_per_day,
                value_at_stake=Decimal(spec.value_at_stake),
                accountable_executive=self.users[spec.executive] if spec.executive else None,
            )

    def add_datasets(self) -> None:
        for spec in DATASETS:
            owner = self.users[spec.owner]
            self.datasets[spec.key] = services.dataset_create(
                actor=owner, name=spec.name, version=spec.version, owner=owner,
                kind=DataSet.Kind.DERIVED if spec.derived else DataSet.Kind.RAW,
                description=_dataset_description(spec), source_system=spec.source_system,
                content_sha256=_dataset_sha256(spec), contains_personal_data=spec.personal,
                legal_basis=spec.legal_basis, consent_notes=spec.consent_notes,
                collection_start=spec.period[0], collection_end=spec.period[1], schema=_schema(spec),
            )

    def add_pipelines(self) -> None:
        for step in PIPELINES:
            output = self.datasets[step.output]
            services.pipeline_step_create(
                actor=output.owner, name=step.name, inputs=[self.datasets[k] for k in step.inputs], output=output,
                description=step.description, code_uri=step.code_uri)

    def add_model(self, spec: ModelSpec) -> None:
        team, members = self.teams[spec.team]
        owner = self.users[spec.owner or members[0]]
        family = family_of(spec)
        processes = [self.processes[k] for k in spec.processes]
        use_case = intake_demo.approved_use_case(
            spec, proposer=owner, owner=owner, process=processes[0] if processes else self._unit_process(spec),
            admin=self.admin)
        model = services.model_register(
            actor=owner, name=spec.name, purpose=spec.purpose, accountable_owner=owner, team=team,
            use_case=use_case.pk, technical_owners=[self.users[m] for m in members],
            business_processes=processes, tags=spec.tags, intended_use=spec.intended_use,
            out_of_scope_uses=spec.out_of_scope, exposure=spec.exposure, automation_level=spec.automation,
            task_type=FAMILIES[family].task,
        )
        self.add_versions(spec, model, owner, family)

    def _unit_process(self, spec: ModelSpec):
        """A model the catalogue links to no process was still proposed for one: its unit's first."""
        return next(p for p in self.processes.values() if p.business_unit.name == spec.unit)

    def add_versions(self, spec: ModelSpec, model: MLModel, owner, family: str) -> None:
        """Walk each version up to its stage, deploying it on the way; production passes the gate."""
        plans = self.plans[spec.name]
        live_retirees: list[ModelVersion] = []  # in production now, retired when a successor goes live
        for index, plan in enumerate(plans):
            version = services.version_create(
                actor=owner, model=model, version=plan.label,
                training_datasets=[self.datasets[k] for k in spec.data],
                description=_version_description(plan, family),
                algorithm=ALGORITHM_LABELS[plan.algorithm], framework=f"scikit-learn {self._sklearn()}",
                hyperparameters=plan.params, artifact_uri=f"s3://models/{model.slug}/{plan.label}/model.pkl",
                artifact_sha256=plan.run.artifact_sha256, validation_metrics=plan.run.metrics,
                validated_environment=self.fingerprint,
            )
            for stage in _stages_up_to(plan.stage):
                if stage == Stage.PRODUCTION:
                    self.pass_gate(model, version)
                version = services.version_transition(
                    actor=self.admin if self.emergency(version, stage) else owner, version=version, to_stage=stage,
                    reason=_transition_reason(stage, plan, family),
                    override_reason=EMERGENCY_OVERRIDE if self.emergency(version, stage) else "",
                )
            if version.stage == Stage.PRODUCTION:
                for old in live_retirees:
                    self.retire(old, owner, f"Superseded by {plan.label}.")
                live_retirees = []
                self.deploy(spec, version, owner, Deployment.Environment.PRODUCTION,
                            days_ago=(len(plans) - index) * 150 + zlib.crc32(model.slug.encode()) % 60)
            elif version.stage == Stage.STAGING:
                self.deploy(spec, version, owner, Deployment.Environment.STAGING, days_ago=7)
            if plan.stage == Stage.RETIRED:
                live_retirees.append(version)
        for old in live_retirees:
            self.retire(old, owner, spec.retired_because or "Decommissioned.")

    def deploy(self, spec: ModelSpec, version: ModelVersion, actor, environment: str, *, days_ago: int) -> None:
        production = environment == Deployment.Environment.PRODUCTION
        legacy = production and spec.legacy_runtime and version.version == self._live_label(spec)
        emergency = self.emergency(version, environment)
        services.deployment_create(
            actor=self.admin if emergency else actor, version=version, environment=environment, kind=spec.serving,
            target=_target(version.model.slug, spec.serving, production, version.version),
            business_process=self.processes[spec.processes[0]] if production and spec.processes else None,
            runtime_environment=LEGACY_RUNTIME if legacy else dict(self.fingerprint),
            deployed_at=self.now - timedelta(days=days_ago),
            override_reason=EMERGENCY_OVERRIDE if emergency else "",
        )

    def pass_gate(self, model: MLModel, version: ModelVersion) -> None:
        """What the production gate demands: a current risk assessment and an approved review."""
        if not RiskAssessment.objects.filter(model=model, status="current").exists():
            risk_demo.assess_model(model)
        if not self.emergency(version, Stage.PRODUCTION):
            reviews_demo.approve(version)

    def emergency(self, version: ModelVersion, stage: str) -> bool:
        """The live version of the emergency model goes to production through an admin override."""
        return (stage == Stage.PRODUCTION and version.model.slug == EMERGENCY_SLUG
                and version.version == self._live_label(self.specs[version.model.name]))

    def retire(self, version: ModelVersion, actor, reason: str) -> None:
        for deployment in version.deployments.filter(retired_at__isnull=True):
            services.deployment_retire(actor=actor, deployment=deployment, reason=reason)
        services.version_transition(actor=actor, version=version, to_stage=Stage.RETIRED, reason=reason)

    def departed_leaves(self) -> None:
        user = self.users[DEPARTED]
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(actor=None, action="user.deactivated", obj=user, changes={"is_active": [True, False]},
                     reason="seed_demo: left the company; their models keep them as accountable owner")

    def _live_label(self, spec: ModelSpec) -> str:
        """The label of the version that stays in production at the end of the seed."""
        return next(p.label for p in reversed(self.plans[spec.name]) if p.stage == Stage.PRODUCTION)

    def _sklearn(self) -> str:
        return self.fingerprint["packages"].get("scikit-learn", "unknown")


def _target(slug: str, kind: str, production: bool, label: str) -> str:
    major = label.split(".")[0]
    if kind == Deployment.Kind.ENDPOINT:
        host = "ml" if production else "ml-staging"
        return f"https://{host}.internal.example.org/{slug}/v{major}/predict"
    cluster = "ml-batch" if production else "ml-batch-staging"
    return f"airflow://{cluster}/{slug.replace('-', '_')}_v{major}"


def _transition_reason(stage: str, plan: VersionPlan, family: str) -> str:
    metric = HEADLINE_METRIC[FAMILIES[family].task]
    return {
        Stage.VALIDATION: f"Submitted for validation ({metric} {plan.run.metrics[metric]:.3f} on the hold-out).",
        Stage.STAGING: "Validation passed; promoted to staging for a shadow run.",
        Stage.PRODUCTION: "Shadow run complete; go-live agreed with the business.",
    }[stage]


def _version_description(plan: VersionPlan, family: str) -> str:
    return (
        f"{ALGORITHM_LABELS[plan.algorithm]} trained on {plan.run.n_train} rows and scored on a {plan.run.n_test}-row "
        f"hold-out ({TEST_SIZE:.0%}, random_state={SPLIT_RANDOM_STATE}). Demo figures: computed on scikit-learn's "
        f"bundled {FAMILIES[family].title} data set."
    )


def _dataset_description(spec: DataSetSpec) -> str:
    if not spec.family:
        return spec.description
    rows = len(load_family(spec.family)[1])
    return (f"{spec.description} Demo stand-in: models trained on this set are scored on scikit-learn's bundled "
            f"{FAMILIES[spec.family].title} data ({rows} rows).")


def _dataset_sha256(spec: DataSetSpec) -> str:
    """Stable per snapshot; includes the stand-in data's bytes when the set has a training family."""
    digest = hashlib.sha256(f"{spec.name}@{spec.version}".encode())
    if spec.family:
        X, y = load_family(spec.family)
        digest.update(X.tobytes())
        digest.update(y.tobytes())
    return digest.hexdigest()


def _schema(spec: DataSetSpec) -> list[dict]:
    columns = [{"name": name, "type": kind} for name, kind in spec.columns]
    if spec.sensitive:
        column = {"name": spec.sensitive, "type": "category", "sensitive": True}
        if spec.family:
            values, counts = np.unique(sensitive_attribute(spec.family, spec.sensitive), return_counts=True)
            column.update(synthetic=True, values={str(v): int(c) for v, c in zip(values, counts, strict=True)})
        columns.append(column)
    return columns


# --- Entry point -------------------------------------------------------------------------------

def seed(*, stdout) -> None:
    """Add the inventory demo portfolio unless it is already there (seed_demo calls this)."""
    if MLModel.objects.filter(slug=MARKER_SLUG).exists():
        stdout.write(f"Inventory: demo portfolio already present ({MLModel.objects.count()} models); nothing added.\n")
        return
    started = time.monotonic()
    # Tiny fits: OpenMP threads only add overhead, and hurt a lot on a busy two-core machine. The limit
    # reaches only native libraries already loaded; the module-level ``from sklearn import ensemble`` loaded them.
    with threadpool_limits(limits=1):
        plans = {spec.name: plan_versions(spec) for spec in MODELS}
    trained = time.monotonic() - started
    with transaction.atomic():
        _Seeder(plans).run()
    stdout.write(
        f"Inventory: {MLModel.objects.count()} models, each from an approved use case "
        f"({UseCase.objects.count()} proposed), in {BusinessUnit.objects.count()} business units, "
        f"{ModelVersion.objects.count()} versions, {DataSet.objects.count()} data sets, "
        f"{PipelineStep.objects.count()} pipeline steps, {Deployment.objects.count()} deployments "
        f"({Deployment.objects.filter(environment_mismatch=True, retired_at__isnull=True).count()} running outside "
        f"their validated environment); trained {sum(map(len, plans.values()))} versions in {trained:.1f}s, "
        f"total {time.monotonic() - started:.1f}s.\n"
    )

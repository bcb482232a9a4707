"""Every write to the inventory: one function per change, each audited in its own transaction."""

import copy
import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.roles import Capability, may, require, require_team_write
from apps.core.services import audit_record, changes_between
from apps.inventory import environment, gates, intake, signals
from apps.inventory.models import (
    STAGE_ORDER,
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    ExternalRegistryLink,
    GateOverride,
    MLModel,
    ModelGovernance,
    ModelVersion,
    PipelineStep,
    Stage,
    StageTransition,
    Tag,
    Team,
    VersionGovernance,
)


def _require_writer(actor) -> None:
    """``actor=None`` is the system itself (seed_demo, imports run by admins from the shell)."""
    if actor is not None:
        require(actor, Capability.EDIT_INVENTORY)


def _require_model_writer(actor, model: MLModel) -> None:
    """A model, its versions and deployments are changed by its team, its owners and admins (core.roles)."""
    if actor is not None:
        require(actor, Capability.EDIT_MODEL, model)


def _require_dataset_writer(actor, dataset: DataSet) -> None:
    """A data set is changed by its owner; one without an owner by whoever may change every model trained
    on it. Its content is what those models' approvals attest, so another team may not change it."""
    _require_writer(actor)
    if actor is None or may(actor, Capability.WRITE_ANY_TEAM) or dataset.owner_id == actor.pk:
        return
    if dataset.owner_id is not None:
        owner = dataset.owner
        raise PermissionDeniedError(
            f"Data set {dataset} belongs to {owner.get_full_name() or owner.get_username()} "
            f"({owner.get_username()}); ask them or an admin to change it.")
    for model in MLModel.objects.filter(versions__training_datasets=dataset).distinct():
        require(actor, Capability.EDIT_MODEL, model)


def _snapshot(obj, fields: Iterable[str]) -> dict[str, Any]:
    values = {}
    for name in fields:
        value = getattr(obj, name)
        if hasattr(value, "pk"):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        values[name] = value
    return values


# Slugs that would collide with page URLs such as /inventory/models/new/.
RESERVED_SLUGS = {"new", "export", "import", "dashboard", "lineage"}


def _unique_slug(model_class, text: str, *, max_length: int = 150) -> str:
    base = slugify(text)[:max_length] or "item"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or model_class.objects.filter(slug=slug).exists():
        slug = f"{base[: max_length - 6]}-{n}"
        n += 1
    return slug


def _loaded_relations(obj) -> list[str]:
    """Foreign keys set to an object read from the database: validating them would only query it again."""
    return [field.name for field in obj._meta.concrete_fields
            if field.many_to_one and field.is_cached(obj) and getattr(obj, field.name) is not None
            and not getattr(obj, field.name)._state.adding]


def _clean(obj, *, exclude=("slug",)) -> None:
    """Model validation as a DomainError naming the first bad field; uniqueness is left to _save_new."""
    try:
        obj.full_clean(exclude=[*exclude, *_loaded_relations(obj)], validate_unique=False,
                       validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        label = field if field != "__all__" else None
        raise DomainError(f"{field}: {' '.join(messages)}" if label else " ".join(messages), field=label) from exc


def _save_new(obj, *, what: str) -> None:
    try:
        with transaction.atomic():
            obj.save(force_insert=True)
    except IntegrityError as exc:
        raise ConflictError(f"{what} already exists.") from exc


def _apply_changes(obj, changes: dict[str, Any], *, editable: Iterable[str]) -> dict:
    unknown = set(changes) - set(editable)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    before = _snapshot(obj, changes)
    for name, value in changes.items():
        setattr(obj, name, value)
    _clean(obj)
    obj.save(update_fields=[*changes, "updated_at"])
    return changes_between(before, _snapshot(obj, changes))


def _set_m2m(obj, name: str, values, label=str) -> list | None:
    """Replace a many-to-many field; return [before, after] names if it changed."""
    if values is None:
        return None
    manager = getattr(obj, name)
    before = sorted(label(v) for v in manager.all())
    manager.set(values)
    after = sorted(label(v) for v in values)
    return [before, after] if before != after else None


# --- Organisation ---------------------------------------------------------------------

@transaction.atomic
def business_unit_create(*, actor, name: str, description: str = "") -> BusinessUnit:
    _require_writer(actor)
    unit = BusinessUnit(name=name.strip(), slug=_unique_slug(BusinessUnit, name), description=description)
    _clean(unit)
    _save_new(unit, what=f"A business unit named {name!r}")
    audit_record(actor=actor, action="business_unit.created", obj=unit, changes={"name": [None, unit.name]})
    return unit


@transaction.atomic
def team_create(*, actor, name: str, business_unit: BusinessUnit, description: str = "", members=()) -> Team:
    """Whoever creates a team is one of its members, so they can register its first models."""
    _require_writer(actor)
    team = Team(name=name.strip(), slug=_unique_slug(Team, f"{business_unit.slug}-{name}"),
                business_unit=business_unit, description=description)
    _save_new(team, what=f"A team named {name!r} in {business_unit}")
    members = {*members, *([actor] if actor is not None else [])}
    team.members.add(*members)
    audit_record(actor=actor, action="team.created", obj=team,
                 changes={"name": [None, team.name], "business_unit": [None, str(business_unit)],
                          "members": [None, sorted(u.get_username() for u in members)]})
    return team


@transaction.atomic
def team_set_members(*, actor, team: Team, members, reason: str = "") -> Team:
    """Replace a team's members, the people who change its models; only admins decide who they are."""
    if actor is not None:
        require(actor, Capability.MANAGE_USERS, message="Only admins change who belongs to a team.")
    team = Team.objects.select_for_update().get(pk=team.pk)
    changed = _set_m2m(team, "members", list(members), lambda u: u.get_username())
    if changed:
        audit_record(actor=actor, action="team.members_changed", obj=team, changes={"members": changed},
                     reason=reason)
    return team


PROCESS_FIELDS = ("name", "business_unit", "description", "decision", "decisions_per_day", "value_at_stake",
                  "accountable_executive")


@transaction.atomic
def process_create(*, actor, name: str, business_unit: BusinessUnit, decision: str, **fields) -> BusinessProcess:
    _require_writer(actor)
    process = BusinessProcess(name=name.strip(), slug=_unique_slug(BusinessProcess, name),
                              business_unit=business_unit, decision=decision, **fields)
    _clean(process)
    _save_new(process, what=f"A business process named {name!r}")
    audit_record(actor=actor, action="business_process.created", obj=process,
                 changes=changes_between({}, _snapshot(process, PROCESS_FIELDS)))
    return process


@transaction.atomic
def process_update(*, actor, process: BusinessProcess, **changes) -> BusinessProcess:
    _require_writer(actor)
    process = BusinessProcess.objects.select_for_update().get(pk=process.pk)
    diff = _apply_changes(process, changes, editable=PROCESS_FIELDS)
    if diff:
        audit_record(actor=actor, action="business_process.updated", obj=process, changes=diff)
    return process


# --- Data and pipelines -----------------------------------------------------------------

DATASET_FIELDS = ("description", "source_system", "owner", "content_sha256", "contains_personal_data",
                  "legal_basis", "consent_notes", "collection_start", "collection_end", "schema", "kind")


def _check_personal_data(dataset: DataSet) -> None:
    if dataset.contains_personal_data and dataset.legal_basis == "not_applicable":
        raise DomainError("A data set holding personal data needs a legal basis (consent, contract, ...).",
                          field="legal_basis")
    if dataset.collection_start and dataset.collection_end and dataset.collection_start > dataset.collection_end:
        raise DomainError("The collection period ends before it starts.", field="collection_end")


@transaction.atomic
def dataset_create(*, actor, name: str, version: str, **fields) -> DataSet:
    _require_writer(actor)
    dataset = DataSet(name=name.strip(), version=version.strip(),
                      slug=_unique_slug(DataSet, f"{name}-{version}"), **fields)
    _check_personal_data(dataset)
    _clean(dataset)
    _save_new(dataset, what=f"Data set {name!r} version {version!r}")
    audit_record(actor=actor, action="dataset.created", obj=dataset,
                 changes=changes_between({}, _snapshot(dataset, ("name", "version", *DATASET_FIELDS))))
    return dataset


@transaction.atomic
def dataset_update(*, actor, dataset: DataSet, **changes) -> DataSet:
    dataset = DataSet.objects.select_for_update().get(pk=dataset.pk)
    _require_dataset_writer(actor, dataset)
    candidate = copy.copy(dataset)
    for name, value in changes.items():
        setattr(candidate, name, value)
    _check_personal_data(candidate)
    diff = _apply_changes(dataset, changes, editable=DATASET_FIELDS)
    if diff:
        audit_record(actor=actor, action="dataset.updated", obj=dataset, changes=diff)
    if "content_sha256" in diff:
        # Approvals attest the data a version learnt from: new content voids them on every such version.
        for version in dataset.trained_versions.all():
            signals.version_content_changed.send(sender=ModelVersion, version=version, actor=actor,
                                                 changed=[f"content_sha256 of training data set {dataset}"])
        signals.governance_changed(model_ids=dataset.trained_versions.values_list("model_id", flat=True),
                                   actor=actor, cause=f"content of {dataset} changed")
    return dataset


@transaction.atomic
def pipeline_step_create(*, actor, name: str, inputs: Iterable[DataSet], output: DataSet,
                         description: str = "", code_uri: str = "") -> PipelineStep:
    # The step makes its output a derived data set in the lineage of the models trained on it.
    _require_dataset_writer(actor, output)
    inputs = list(inputs)
    if not inputs:
        raise DomainError("A pipeline step needs at least one input data set.", field="inputs")
    if output in inputs:
        raise DomainError("A pipeline step cannot output one of its own inputs.", field="output")
    step = PipelineStep(name=name.strip(), slug=_unique_slug(PipelineStep, name), output=output,
                        description=description, code_uri=code_uri)
    _save_new(step, what=f"A pipeline step named {name!r}")
    step.inputs.set(inputs)
    if output.kind != DataSet.Kind.DERIVED:
        DataSet.objects.filter(pk=output.pk).update(kind=DataSet.Kind.DERIVED)
    audit_record(actor=actor, action="pipeline_step.created", obj=step,
                 changes={"inputs": [None, sorted(str(d) for d in inputs)], "output": [None, str(output)]})
    return step


# --- Models ------------------------------------------------------------------------------

MODEL_FIELDS = ("name", "purpose", "intended_use", "out_of_scope_uses", "accountable_owner", "team", "exposure",
                "automation_level", "task_type", "fairness_reference_groups")


def tag_names(names: Iterable[str]) -> list[str]:
    """Tag names as stored: slugified, at most 50 characters, blanks and repeats dropped."""
    return list(dict.fromkeys(name for name in (slugify(raw)[:50] for raw in names) if name))


def _tags(names: Iterable[str]) -> list[Tag]:
    return [Tag.objects.get_or_create(name=name)[0] for name in tag_names(names)]


def _from_intake(*, actor, use_case, given: dict) -> tuple[Any, dict]:
    """The proposal ``use_case`` names, and the model fields it fills where ``given`` leaves them empty."""
    source = intake.provider()
    if use_case in (None, ""):
        if actor is not None and intake.required():
            raise DomainError("Register a model from an approved use case: propose it under Use cases, have it "
                              "approved, then name it here (use_case).", field="use_case")
        return None, given
    if source is None:
        raise DomainError("This installation has no use-case intake; leave use_case empty.", field="use_case")
    proposal = source.resolve(actor=actor, reference=use_case)
    filled = dict(given)
    for name, value in source.prefill(proposal).items():
        if filled.get(name) is None or filled.get(name) == "":
            filled[name] = value
    return proposal, filled


@transaction.atomic
def model_register(*, actor, name: str, team: Team, purpose: str = "", accountable_owner=None, use_case=None,
                   technical_owners=(), business_processes=None, tags=(), **fields) -> MLModel:
    """Register a model; a person names the approved use case it comes from (``apps.inventory.intake``),
    which fills the purpose, owner and processes left out (None or empty text) and becomes the model's record."""
    _require_writer(actor)
    if actor is not None:
        require_team_write(actor, team)
    proposal, given = _from_intake(actor=actor, use_case=use_case, given={
        "purpose": purpose, "accountable_owner": accountable_owner, "business_processes": business_processes,
        **fields})
    purpose, accountable_owner = given.pop("purpose"), given.pop("accountable_owner")
    business_processes, fields = given.pop("business_processes") or (), given
    if accountable_owner is None:
        raise DomainError("Name the accountable owner.", field="accountable_owner")
    if not accountable_owner.is_active:
        raise DomainError(f"{accountable_owner} has left (inactive account); name an active accountable owner.",
                          field="accountable_owner")
    model = MLModel(name=name.strip(), slug=_unique_slug(MLModel, name), purpose=purpose,
                    accountable_owner=accountable_owner, team=team, created_by=actor, **fields)
    _clean(model)
    _save_new(model, what=f"A model named {name!r}")
    # A new model has no relations yet: add, without reading what is there first as set() would.
    model.technical_owners.add(*technical_owners)
    model.business_processes.add(*business_processes)
    model.tags.add(*_tags(tags))
    changes = changes_between({}, _snapshot(model, MODEL_FIELDS))
    changes.update({
        "technical_owners": [None, sorted(u.get_username() for u in technical_owners)],
        "business_processes": [None, sorted(str(p) for p in business_processes)],
        "tags": [None, sorted(tag_names(tags))],
    })
    audit_record(actor=actor, action="model.registered", obj=model, changes=changes)
    if proposal is not None:
        intake.provider().link(actor=actor, source=proposal, model=model)
    signals.governance_changed(model_ids=[model.pk], actor=actor, cause="model registered")
    return model


@transaction.atomic
def model_update(*, actor, model: MLModel, technical_owners=None, business_processes=None, tags=None,
                 reason: str = "", **changes) -> MLModel:
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    _require_model_writer(actor, model)
    team = changes.get("team")
    if actor is not None and team is not None and team.pk != model.team_id:
        require_team_write(actor, team)
    owner = changes.get("accountable_owner")
    if owner is not None and not owner.is_active:
        raise DomainError(f"{owner} has left (inactive account); name an active accountable owner.",
                          field="accountable_owner")
    diff = _apply_changes(model, changes, editable=MODEL_FIELDS)
    for name, values, label in (
        ("technical_owners", technical_owners, lambda u: u.get_username()),
        ("business_processes", business_processes, str),
        ("tags", None if tags is None else _tags(tags), str),
    ):
        changed = _set_m2m(model, name, values, label)
        if changed:
            diff[name] = changed
    if diff:
        audit_record(actor=actor, action="model.updated", obj=model, changes=diff, reason=reason)
    risk_context = sorted(set(diff) & {"exposure", "purpose", "automation_level", "intended_use"})
    if risk_context:
        signals.model_risk_context_changed.send(sender=MLModel, model=model, actor=actor, changed=risk_context)
    if diff:
        signals.governance_changed(model_ids=[model.pk], actor=actor, cause="model updated")
    return model


# --- Versions and lifecycle ------------------------------------------------------------------

VERSION_FIELDS = ("description", "algorithm", "framework", "hyperparameters", "artifact_uri", "artifact_sha256",
                  "validation_metrics", "validated_environment")


REGISTERED = "registered"  # the reason of a version's first stage transition


def _check_sha256(value: str) -> None:
    if value and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())):
        raise DomainError("artifact_sha256 must be 64 hexadecimal characters.", field="artifact_sha256")


@transaction.atomic
def version_create(*, actor, model: MLModel, version: str, training_datasets=(), **fields) -> ModelVersion:
    _require_model_writer(actor, model)
    _check_sha256(fields.get("artifact_sha256", ""))
    if model.stage == Stage.RETIRED and not model.versions.exclude(stage=Stage.RETIRED).exists() \
            and model.versions.exists():
        raise ConflictError(f"{model} is retired; register a new model instead of adding versions.")
    label = version.strip()
    if not label or "/" in label or label.lower() == "new" or any(c.isspace() for c in label):
        raise DomainError("A version label cannot be empty, 'new', or contain '/' or spaces (e.g. 1.4.0).",
                          field="version")
    obj = ModelVersion(model=model, version=label, created_by=actor, **fields)
    _clean(obj)
    _save_new(obj, what=f"{model} already has a version {version!r}; it")
    obj.training_datasets.add(*training_datasets)
    StageTransition.objects.create(version=obj, from_stage="", to_stage=obj.stage, actor=actor,
                                   reason=REGISTERED, at=obj.created_at)
    changes = changes_between({}, _snapshot(obj, ("version", "stage", *VERSION_FIELDS)))
    changes["training_datasets"] = [None, sorted(str(d) for d in training_datasets)]
    audit_record(actor=actor, action="version.created", obj=obj, changes=changes)
    _refresh_model_stage(model)
    signals.governance_changed(model_ids=[model.pk], actor=actor, cause=f"version {label} registered")
    return obj


@transaction.atomic
def version_update(*, actor, version: ModelVersion, training_datasets=None, reason: str = "",
                   **changes) -> ModelVersion:
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    _require_model_writer(actor, version.model)
    _check_sha256(changes.get("artifact_sha256", ""))
    diff = _apply_changes(version, changes, editable=VERSION_FIELDS)
    changed = _set_m2m(version, "training_datasets", training_datasets)
    if changed:
        diff["training_datasets"] = changed
    if diff:
        audit_record(actor=actor, action="version.updated", obj=version, changes=diff, reason=reason)
    if "validated_environment" in diff:
        _recheck_deployments(version)
    reviewed = sorted(set(diff) & set(ModelVersion.REVIEWED_FIELDS))
    if reviewed:
        signals.version_content_changed.send(sender=ModelVersion, version=version, actor=actor, changed=reviewed)
    if diff:
        signals.governance_changed(model_ids=[version.model_id], actor=actor,
                                   cause=f"version {version.version} updated")
    return version


LINK_WATCHED = ("aliases", "stage", "production_marks", "version_id")


@transaction.atomic
def registry_link_record(*, version: ModelVersion, registry: str, name: str, external_version: str, now: datetime,
                         registry_label: str = "", url: str = "", aliases=(), stage: str = "", production_marks=(),
                         details: dict | None = None) -> tuple[ExternalRegistryLink, bool]:
    """What an external registry (MLflow) says of a version: its aliases and stage there. Returns the link and
    whether its aliases, stage or production marks changed (audited; the governance state is recomputed when the
    production marks did, which raises or clears a shadow promotion)."""
    link = (ExternalRegistryLink.objects.select_for_update()
            .filter(registry=registry, name=name, external_version=external_version).first())
    values = {"version_id": version.pk, "registry_label": registry_label, "url": url, "aliases": sorted(aliases),
              "stage": stage, "production_marks": list(production_marks), "details": details or {}}
    before = {field: getattr(link, field) for field in values} if link else {}
    if link is None:
        link = ExternalRegistryLink(registry=registry, name=name, external_version=external_version, last_seen_at=now)
    for field, value in values.items():
        setattr(link, field, value)
    link.last_seen_at = now
    _clean(link, exclude=("version",))
    link.save()
    changed = {field: [before.get(field), values[field]] for field in LINK_WATCHED
               if before.get(field) != values[field]}
    if changed:
        changed.pop("version_id", None)
        audit_record(actor=None, action="registry_link.changed", obj=version, changes=changed,
                     reason=f"{registry_label or registry}: {name} version {external_version}")
    if before.get("production_marks") != values["production_marks"]:
        signals.governance_changed(model_ids=[version.model_id], actor=None,
                                   cause=f"production marks in {registry_label or registry} changed")
    return link, bool(changed)


def _recheck_deployments(version: ModelVersion) -> None:
    """The validated fingerprint changed: recompute the mismatch of every active deployment of the version."""
    for deployment in version.deployments.filter(retired_at__isnull=True):
        mismatch = _mismatch(version, deployment.runtime_environment)
        if mismatch != deployment.mismatch_details:
            Deployment.objects.filter(pk=deployment.pk).update(environment_mismatch=bool(mismatch),
                                                               mismatch_details=mismatch, updated_at=timezone.now())


def _refresh_model_stage(model: MLModel) -> None:
    """A model's stage is its most advanced live version's; retired when every version is."""
    stages = set(model.versions.values_list("stage", flat=True))
    live = [s for s in STAGE_ORDER if s in stages and s != Stage.RETIRED]
    stage = live[-1] if live else (Stage.RETIRED if stages else Stage.DEVELOPMENT)
    if model.stage != stage:
        MLModel.objects.filter(pk=model.pk).update(stage=stage, updated_at=timezone.now())
        model.stage = stage


def _records_gate_refusal(service):
    """A refusal rolls back the service's own writes; the refusal itself is then audited in the caller's
    transaction (``production_gate.refused``), so the trail and webhooks show who tried to ship what."""

    @functools.wraps(service)
    def wrapper(*, actor, **kwargs):
        try:
            return service(actor=actor, **kwargs)
        except gates.GateRefused as refusal:
            audit_record(actor=actor, action="production_gate.refused", obj=refusal.version,
                         changes={"problems": [None, refusal.reasons]})
            raise

    return wrapper


def _production_gate(*, actor, version: ModelVersion, override_reason: str) -> None:
    """Refuse production without what the gate demands, unless an admin overrides with a reason."""
    problems = gates.production_problems(version)
    if not problems:
        return
    if not override_reason.strip():
        raise gates.GateRefused(version=version, reasons=problems)
    if actor is None or not may(actor, Capability.OVERRIDE_GATE):
        raise PermissionDeniedError("Only an admin can override the production gate.")
    GateOverride.objects.create(version=version, actor=actor, reason=override_reason, problems=problems)
    audit_record(actor=actor, action="production_gate.overridden", obj=version, changes={"problems": [problems, None]},
                 reason=override_reason)


@_records_gate_refusal
@transaction.atomic
def version_transition(*, actor, version: ModelVersion, to_stage: str, reason: str = "",
                       override_reason: str = "") -> ModelVersion:
    """Move a version to another lifecycle stage, keeping the history. Production passes the gate first."""
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    _require_model_writer(actor, version.model)
    if to_stage not in Stage.values:
        raise DomainError(f"Unknown stage {to_stage!r}; use one of {', '.join(Stage.values)}.", field="stage")
    if version.stage == to_stage:
        raise ConflictError(f"{version} is already in {Stage(to_stage).label}.")
    if version.stage == Stage.RETIRED:
        raise ConflictError(f"{version} is retired; register a new version instead.")
    if to_stage == Stage.PRODUCTION:
        _production_gate(actor=actor, version=version, override_reason=override_reason)
    from_stage = version.stage
    version.stage = to_stage
    version.save(update_fields=["stage", "updated_at"])
    StageTransition.objects.create(version=version, from_stage=from_stage, to_stage=to_stage, actor=actor,
                                   reason=reason, at=timezone.now())
    audit_record(actor=actor, action="version.stage_changed", obj=version,
                 changes={"stage": [from_stage, to_stage]}, reason=reason)
    _refresh_model_stage(version.model)
    signals.governance_changed(model_ids=[version.model_id], actor=actor,
                               cause=f"version {version.version} moved to {to_stage}")
    return version


# --- Deployments ------------------------------------------------------------------------------

def _mismatch(version: ModelVersion, runtime: dict) -> list[dict]:
    return [d.as_dict() for d in environment.differences(version.validated_environment, runtime)]


@_records_gate_refusal
@transaction.atomic
def deployment_create(*, actor, version: ModelVersion, environment: str, target: str, kind: str = "endpoint",
                      business_process: BusinessProcess | None = None, runtime_environment: dict | None = None,
                      deployed_at: datetime | None = None, override_reason: str = "") -> Deployment:
    _require_model_writer(actor, version.model)
    if version.stage == Stage.RETIRED:
        raise ConflictError(f"{version} is retired and cannot be deployed.")
    if environment == Deployment.Environment.PRODUCTION:
        _production_gate(actor=actor, version=version, override_reason=override_reason)
    runtime = runtime_environment or {}
    mismatch = _mismatch(version, runtime)
    deployment = Deployment(version=version, environment=environment, kind=kind, target=target.strip(),
                            business_process=business_process, runtime_environment=runtime,
                            deployed_at=deployed_at or timezone.now(), environment_mismatch=bool(mismatch),
                            mismatch_details=mismatch, created_by=actor)
    _clean(deployment, exclude=())
    deployment.save(force_insert=True)
    audit_record(actor=actor, action="deployment.created", obj=deployment,
                 changes={"version": [None, str(version)], "environment": [None, environment],
                          "target": [None, deployment.target], "environment_mismatch": [None, bool(mismatch)]})
    signals.governance_changed(model_ids=[version.model_id], actor=actor, cause="deployed")
    return deployment


@transaction.atomic
def deployment_update_runtime(*, actor, deployment: Deployment, runtime_environment: dict) -> Deployment:
    """Record a new runtime fingerprint (e.g. after an image rebuild) and re-check it."""
    deployment = Deployment.objects.select_for_update().select_related("version__model").get(pk=deployment.pk)
    _require_model_writer(actor, deployment.version.model)
    mismatch = _mismatch(deployment.version, runtime_environment)
    before = {
        "runtime_environment": deployment.runtime_environment,
        "environment_mismatch": deployment.environment_mismatch,
    }
    deployment.runtime_environment = runtime_environment
    deployment.environment_mismatch = bool(mismatch)
    deployment.mismatch_details = mismatch
    deployment.save(update_fields=["runtime_environment", "environment_mismatch", "mismatch_details", "updated_at"])
    after = {"runtime_environment": runtime_environment, "environment_mismatch": bool(mismatch)}
    audit_record(actor=actor, action="deployment.runtime_changed", obj=deployment,
                 changes=changes_between(before, after))
    signals.governance_changed(model_ids=[deployment.version.model_id], actor=actor, cause="runtime changed")
    return deployment


@transaction.atomic
def deployment_retire(*, actor, deployment: Deployment, reason: str = "") -> Deployment:
    deployment = Deployment.objects.select_for_update().select_related("version__model").get(pk=deployment.pk)
    _require_model_writer(actor, deployment.version.model)
    if deployment.retired_at is not None:
        raise ConflictError(f"Deployment {deployment} was already retired on {deployment.retired_at:%Y-%m-%d}.")
    deployment.retired_at = timezone.now()
    deployment.save(update_fields=["retired_at", "updated_at"])
    audit_record(actor=actor, action="deployment.retired", obj=deployment,
                 changes={"retired_at": [None, deployment.retired_at.isoformat()]}, reason=reason)
    signals.governance_changed(model_ids=[deployment.version.model_id], actor=actor, cause="deployment retired")
    return deployment


# --- Governance state -------------------------------------------------------------------------

def governance_mark_stale(*, tiers) -> int:
    """Mark the stored states of every model of these tiers for the next recompute (one UPDATE each), when a change
    touches too many models to recompute in the request (a policy published). Returns how many models."""
    now = timezone.now()
    VersionGovernance.objects.filter(tier__in=tiers).update(recheck_at=now)
    return ModelGovernance.objects.filter(tier__in=tiers).update(recheck_at=now)

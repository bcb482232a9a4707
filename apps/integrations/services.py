"""Every write of the MLflow integration: servers, sync runs, and the sync itself.

The sync reads a server's registry page by page (registered models in name order, MLflow's page token as the
cursor). For each registered model it reads from MLflow first (versions, their runs, the files logged with the
model), then writes the portal in one transaction through the inventory's services (every change audited), then,
after the commit, tells the owner of a shadow promotion and writes each version's governance state back to MLflow
as tags. No network call happens inside a transaction. Only what differs is written, so a second run changes
nothing. The cursor is stored after each page, so a run that stops (a page budget, a crash, MLflow going away)
is resumed by the next one.
"""

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.core import sealing
from apps.core.errors import ConflictError, DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record
from apps.integrations import mlflow_env
from apps.integrations.mlflow_client import Credentials, MlflowClient, MlflowError, artifact_path
from apps.integrations.models import MlflowServer, RegisteredModelLink, SyncConflict, SyncRun
from apps.inventory import services as inventory
from apps.inventory import signals
from apps.inventory.models import ExternalRegistryLink, MLModel, ModelVersion, VersionGovernance
from apps.notifications.services import notify

logger = logging.getLogger(__name__)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Version fields the sync fills from MLflow; a value typed in the portal since the last sync is never overwritten.
SYNCED_FIELDS = ("description", "framework", "hyperparameters", "artifact_uri", "validation_metrics",
                 "validated_environment")
TAG_STATE, TAG_APPROVAL, TAG_URL = "portal.governance_state", "portal.approval", "portal.url"
SHADOW = "shadow_promotion"


# --- Servers ------------------------------------------------------------------------------------------

def _check_server(*, url: str, auth: str, credential_env: str, credential: str, has_stored: bool) -> None:
    if not re.match(r"^https?://[^\s/]+", url or ""):
        raise DomainError("Enter the server's address as http(s)://host:port, e.g. http://mlflow.internal:5000.",
                          field="url")
    if auth not in MlflowServer.Auth.values:
        raise DomainError(f"Authentication must be one of {', '.join(MlflowServer.Auth.values)}.", field="auth")
    if credential_env and not ENV_NAME.match(credential_env):
        raise DomainError("An environment variable name holds letters, digits and underscores only "
                          "(e.g. MLFLOW_TRACKING_TOKEN).", field="credential_env")
    if auth == MlflowServer.Auth.BASIC and credential and ":" not in credential:
        raise DomainError("For basic authentication enter user:password.", field="credential")
    if auth != MlflowServer.Auth.NONE and not (credential_env or credential or has_stored):
        raise DomainError("This authentication needs a credential: name the environment variable that holds it, "
                          "or enter it (it is never shown back).", field="credential_env")


@transaction.atomic
def server_create(*, actor, name: str, url: str, team, owner, auth: str = MlflowServer.Auth.NONE,
                  credential_env: str = "", credential: str = "", enabled: bool = True,
                  page_size: int = 100) -> MlflowServer:
    if actor is not None:  # None: the system (the demo seed)
        require(actor, Capability.MANAGE_INTEGRATIONS)
    name, url = (name or "").strip(), (url or "").strip().rstrip("/")
    if not name:
        raise DomainError("Name the server, e.g. “MLflow production”.", field="name")
    if MlflowServer.objects.filter(name__iexact=name).exists():
        raise ConflictError(f"A server named {name!r} is already connected; choose another name.", field="name")
    _check_server(url=url, auth=auth, credential_env=credential_env, credential=credential, has_stored=False)
    if not owner.is_active:
        raise DomainError(f"{owner} has left (inactive account); name an active owner.", field="owner")
    if not 1 <= page_size <= 1000:
        raise DomainError("The page size is between 1 and 1000 registered models.", field="page_size")
    key, n = slugify(name)[:50] or "mlflow", 2
    base = key
    while MlflowServer.objects.filter(key=key).exists():
        key, n = f"{base}-{n}", n + 1
    server = MlflowServer.objects.create(name=name, key=key, url=url, auth=auth, credential_env=credential_env,
                                         credential=sealing.seal(credential), team=team, owner=owner, enabled=enabled,
                                         page_size=page_size, created_by=actor)
    audit_record(actor=actor, action="mlflow_server.connected", obj=server, changes={
        "url": [None, url], "auth": [None, auth], "credential": [None, server.credential_source],
        "team": [None, str(team)], "owner": [None, owner.get_username()]})
    return server


@transaction.atomic
def server_delete(*, actor, server: MlflowServer) -> None:
    """Disconnects a server: its models and versions stay in the inventory; their links to it go."""
    require(actor, Capability.MANAGE_INTEGRATIONS)
    audit_record(actor=actor, action="mlflow_server.disconnected", obj=server,
                 changes={"url": [server.url, None]})
    links = ExternalRegistryLink.objects.filter(registry=server.registry)
    model_ids = set(links.values_list("version__model_id", flat=True))
    links.delete()
    server.delete()
    if model_ids:
        signals.governance_changed(model_ids=model_ids, actor=actor, cause="MLflow server disconnected")


def credentials_for(server: MlflowServer) -> Credentials:
    if server.auth == MlflowServer.Auth.NONE:
        return Credentials()
    try:
        secret = os.environ.get(server.credential_env, "") if server.credential_env else sealing.unseal(
            server.credential)
    except sealing.SealError as exc:
        raise DomainError(f"The credential stored for {server} cannot be read: {exc}") from exc
    if not secret:
        raise DomainError(f"No credential for {server}: the environment variable {server.credential_env} is not set "
                          "where the portal runs." if server.credential_env else
                          f"No credential is stored for {server}; enter one.")
    return Credentials(server.auth, secret)


def client_for(server: MlflowServer) -> MlflowClient:
    return MlflowClient(server.url, credentials_for(server))


def server_test(*, actor, server: MlflowServer) -> str:
    """The connection test: one read of the registry. Returns a sentence saying what was found (or raises)."""
    require(actor, Capability.MANAGE_INTEGRATIONS)
    try:
        found = client_for(server).check()
    except MlflowError as exc:
        raise DomainError(exc.message) from exc
    return (f"Connected to {server.url}: its registry answered with {found} registered model{'s' * (found != 1)} "
            "on the first page." if found else f"Connected to {server.url}: its registry holds no model yet.")


# --- Runs ---------------------------------------------------------------------------------------------

ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


@transaction.atomic
def sync_request(*, actor, server: MlflowServer, trigger: str = SyncRun.Trigger.MANUAL,
                 enqueue: bool = True) -> SyncRun:
    """Queue a sync of ``server`` (one at a time per server); a worker runs it after the commit."""
    if actor is not None:
        require(actor, Capability.MANAGE_INTEGRATIONS)
    server = MlflowServer.objects.select_for_update().get(pk=server.pk)
    stale = timezone.now() - timedelta(seconds=settings.PORTAL_TASK_LEASE_SECONDS)
    SyncRun.objects.filter(server=server, status=SyncRun.Status.RUNNING, started_at__lt=stale).update(
        status=SyncRun.Status.FAILED, finished_at=timezone.now(),
        errors=["The worker running it stopped answering; the next run resumes from its last page."])
    if SyncRun.objects.filter(server=server, status__in=ACTIVE).exists():
        raise ConflictError(f"A sync of {server} is already queued or running; its outcome appears in the log.")
    run = SyncRun.objects.create(server=server, trigger=trigger, requested_by=actor if actor else None)
    audit_record(actor=actor, action="mlflow.sync_requested", obj=server, changes={"run": [None, run.pk]},
                 reason=trigger)
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    """Hand the run to the broker; if it is down, the run stays queued and the scheduled sync runs it."""
    from apps.integrations.tasks import run_sync

    try:
        run_sync.apply_async(args=[run_id], retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the queued row is picked up by the schedule
        logger.warning("broker unavailable; MLflow sync run %s stays queued for the schedule", run_id)


def sync_due(*, now=None) -> int:
    """Beat task body: a sync of every enabled server, in this worker; a run queued but never picked up (the
    broker was down) is run instead of a new one. Returns how many runs ran."""
    now = now or timezone.now()
    ran = 0
    for server in MlflowServer.objects.filter(enabled=True).order_by("pk"):
        waiting = SyncRun.objects.filter(server=server, status=SyncRun.Status.QUEUED,
                                         created_at__lt=now - timedelta(minutes=2)).order_by("pk").first()
        try:
            run = waiting or sync_request(actor=None, server=server, trigger=SyncRun.Trigger.SCHEDULE, enqueue=False)
        except ConflictError:
            continue  # one is running
        ran += sync_execute(run_id=run.pk) is not None
    return ran


@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def sync_execute(*, run_id: int, max_pages: int | None = None) -> SyncRun | None:
    """Run a queued sync; None when another worker claimed it. Safe to call twice."""
    claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    run = SyncRun.objects.select_related("server", "server__team", "server__owner").get(pk=run_id)
    server = run.server
    budget = settings.PORTAL_MLFLOW_MAX_PAGES if max_pages is None else max_pages
    outcome, token, status = Outcome(), server.cursor, SyncRun.Status.DONE
    run.resumed_from = token
    SyncRun.objects.filter(pk=run.pk).update(resumed_from=token)
    try:
        client = client_for(server)
        while True:
            page = client.search_registered_models(page_token=token, max_results=server.page_size)
            for registered in page.get("registered_models", []):
                _sync_registered_model(server, client, registered, outcome)
            token = page.get("next_page_token", "") or ""
            run.pages += 1
            # The cursor moves only after a whole page is stored: a run that stops resumes at the next page.
            MlflowServer.objects.filter(pk=server.pk).update(cursor=token)
            SyncRun.objects.filter(pk=run.pk).update(pages=run.pages, counts=dict(outcome.counts))
            if not token:
                break
            if budget and run.pages >= budget:
                status = SyncRun.Status.PARTIAL
                break
    except (MlflowError, DomainError) as exc:
        status = SyncRun.Status.FAILED
        outcome.errors.append(exc.message)
    return _finish(run, status, outcome)


@transaction.atomic
def _finish(run: SyncRun, status: str, outcome: Outcome) -> SyncRun:
    run.status, run.finished_at = status, timezone.now()
    run.counts, run.errors = dict(sorted(outcome.counts.items())), outcome.errors[:200]
    run.save(update_fields=["status", "finished_at", "counts", "errors", "pages"])
    audit_record(actor=run.requested_by, action="mlflow.synced", obj=run.server,
                 changes={"run": [None, run.pk], "status": [None, status], "counts": [None, run.counts]},
                 reason="; ".join(outcome.errors)[:1000])
    return run


# --- One registered model -----------------------------------------------------------------------------

@dataclass
class Fetched:
    """What MLflow says of one version, read before the portal's transaction."""

    detail: dict
    values: dict
    details: dict
    errors: list[str]


def _read_files(client: MlflowClient, name: str, version: str, cached: dict | None) -> tuple[dict, str, list[str]]:
    """The environment files and MLmodel logged with the version ({name: text}) and where they are."""
    uri = client.download_uri(name, version)
    if cached and cached.get("artifact_uri") == uri and "files" in cached:
        return cached["files"], uri, []  # an MLflow model's files never change once logged
    path = artifact_path(uri)
    if path is None:
        return {}, uri, [f"{name} version {version}: its files are at {uri}, which the tracking server does not "
                         "serve (start it with --serve-artifacts); its environment is not recorded."]
    files = {}
    for file_name in (mlflow_env.MLMODEL, *mlflow_env.ENVIRONMENT_FILES):
        text = client.artifact(f"{path}/{file_name}")
        if text is not None:
            files[file_name] = text
    return files, uri, []


def _fetch_version(client: MlflowClient, name: str, version: str, cached: dict | None) -> Fetched:
    detail = client.version(name, version)
    run = client.run(detail["run_id"]) if detail.get("run_id") else {}
    data = run.get("data", {})
    files, uri, errors = _read_files(client, name, version, cached)
    values = {
        "description": detail.get("description", "") or "",
        "artifact_uri": detail.get("source", "")[:500],
        "hyperparameters": {p["key"]: p["value"] for p in data.get("params", [])},
        "validation_metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
    }
    details = {"run_id": detail.get("run_id", ""), "artifact_uri": uri, "files": files,
               "run_tags": {t["key"]: t["value"] for t in data.get("tags", [])},
               "version_tags": {t["key"]: t["value"] for t in detail.get("tags", [])},
               "status": detail.get("status", "")}
    try:
        mlmodel = files.get(mlflow_env.MLMODEL, "")
        values["framework"] = mlflow_env.framework(mlmodel)
        values["validated_environment"] = mlflow_env.fingerprint(files)
        details["signature"] = mlflow_env.signature(mlmodel)
    except mlflow_env.EnvironmentFileError as exc:
        errors.append(f"{name} version {version}: {exc}")
        values["framework"], values["validated_environment"] = "", {}
    return Fetched(detail, values, details, errors)


def _sync_registered_model(server: MlflowServer, client: MlflowClient, registered: dict, outcome: Outcome) -> None:
    name = registered["name"]
    outcome.counts["models_seen"] += 1
    try:
        cached = {link.external_version: link.details for link in
                  ExternalRegistryLink.objects.filter(registry=server.registry, name=name)}
        fetched = [_fetch_version(client, name, v["version"], cached.get(v["version"]))
                   for v in sorted(client.versions_of(name), key=lambda v: int(v["version"]))]
        with transaction.atomic(), signals.governance_deferred(cause=f"MLflow sync of {server}"):
            model = _model_for(server, registered, outcome)
            synced = [_store_version(server, model, name, item, outcome) for item in fetched]
        for item in fetched:
            outcome.errors += item.errors
        for (version, link), item in zip(synced, fetched, strict=True):
            _tell_owner(version, link, outcome)
            _write_back(client, name, version, item.detail, outcome)
    except (MlflowError, DomainError) as exc:
        # One model that cannot be read or stored does not stop the others; the run's log says which and why.
        outcome.counts["model_errors"] += 1
        outcome.errors.append(f"{name}: {exc.message}")


def _model_for(server: MlflowServer, registered: dict, outcome: Outcome) -> MLModel:
    """The portal model of a registered model: by its stable key; else one of the same name in the server's team
    (linked, not changed); else a new one registered in that team with the server's owner."""
    name = registered["name"]
    link = RegisteredModelLink.objects.select_related("model").filter(server=server, name=name).first()
    if link is not None:
        return link.model
    model = MLModel.objects.filter(team=server.team, name=name).order_by("pk").first()
    if model is None:
        model = inventory.model_register(
            actor=None, name=name[:160], team=server.team, accountable_owner=server.owner, tags=["mlflow"],
            purpose=registered.get("description") or f"Registered in MLflow ({server.name}) as {name}; "
                                                      "say here what it is for in business terms.")
        outcome.counts["models_created"] += 1
    else:
        outcome.counts["models_linked"] += 1
    RegisteredModelLink.objects.create(server=server, name=name, model=model)
    audit_record(actor=None, action="mlflow.model_linked", obj=model,
                 changes={"mlflow": [None, f"{server.registry}/{name}"]})
    return model


def _empty(value) -> bool:
    return value in ("", None, {}, [])


def _merge(server: MlflowServer, version: ModelVersion, values: dict, imported: dict, outcome: Outcome,
           now: datetime) -> tuple[dict, dict]:
    """Three-way: a field still as the sync last wrote it (or empty) takes MLflow's value; one typed in the
    portal since and different from MLflow's is kept, and the conflict recorded. Returns (updates, imported)."""
    updates, remembered = {}, dict(imported)
    for name, new in values.items():
        current = getattr(version, name)
        conflict = SyncConflict.objects.filter(server=server, version=version, field=name, resolved_at__isnull=True)
        if current == new:
            remembered[name] = new
            conflict.update(resolved_at=now)
            continue
        if (name in imported and current == imported[name]) or (name not in imported and _empty(current)):
            updates[name], remembered[name] = new, new
            conflict.update(resolved_at=now)
            continue
        open_conflict = conflict.first()
        if open_conflict is None:
            SyncConflict.objects.create(server=server, version=version, field=name, portal_value=current,
                                        mlflow_value=new, first_seen_at=now, last_seen_at=now)
            audit_record(actor=None, action="mlflow.conflict", obj=version, changes={name: [current, new]},
                         reason=f"Changed in the portal and in MLflow ({server}); the portal's value is kept.")
            outcome.counts["conflicts"] += 1
        elif (open_conflict.portal_value, open_conflict.mlflow_value) != (current, new):
            conflict.update(portal_value=current, mlflow_value=new, last_seen_at=now)
    return updates, remembered


def _store_version(server: MlflowServer, model: MLModel, name: str, item: Fetched,
                   outcome: Outcome) -> tuple[ModelVersion, ExternalRegistryLink]:
    now = timezone.now()
    label = str(item.detail["version"])
    link = ExternalRegistryLink.objects.select_related("version").filter(
        registry=server.registry, name=name, external_version=label).first()
    version = link.version if link else ModelVersion.objects.filter(model=model, version=label).first()
    if version is None:
        version = inventory.version_create(actor=None, model=model, version=label, **item.values)
        imported = dict(item.values)
        outcome.counts["versions_created"] += 1
    else:
        updates, imported = _merge(server, version, item.values, link.imported if link else {}, outcome, now)
        if updates:
            version = inventory.version_update(actor=None, version=version, reason=f"synced from MLflow ({server})",
                                               **updates)
            outcome.counts["versions_updated"] += 1
    aliases = item.detail.get("aliases", [])
    stage = item.detail.get("current_stage", "") or ""
    link, changed = inventory.registry_link_record(
        version=version, registry=server.registry, registry_label=f"MLflow {server.name}", name=name,
        external_version=label, now=now, aliases=aliases, stage="" if stage == "None" else stage,
        url=f"{server.url}/#/models/{name}/versions/{label}",
        production_marks=mlflow_env.production_marks(aliases=aliases, stage=stage,
                                                      names=settings.PORTAL_MLFLOW_PRODUCTION_ALIASES),
        details=item.details)
    if link.imported != imported:
        ExternalRegistryLink.objects.filter(pk=link.pk).update(imported=imported)
    outcome.counts["aliases_changed"] += changed
    outcome.counts["versions_seen"] += 1
    return version, link


@transaction.atomic
def _tell_owner(version: ModelVersion, link: ExternalRegistryLink, outcome: Outcome) -> None:
    """A shadow promotion notifies the model's accountable owner once; cleared when the alias moves or the
    version is approved, so a new one notifies again."""
    state = VersionGovernance.objects.filter(version=version).first()
    shadowed = state is not None and any(r["code"] == SHADOW for r in state.reasons)
    if shadowed:
        outcome.counts["shadow_promotions"] += 1
    if shadowed and link.shadow_notified_at is None:
        model = version.model
        marks = ", ".join(link.production_marks)
        notify(recipient=model.accountable_owner, kind="shadow_promotion", url=version.get_absolute_url(),
               subject=f"{version} is production in MLflow without approval",
               body=f"{link.registry_label} marks {link.name} version {link.external_version} as production "
                    f"({marks}), but the portal has no valid approval for it. Open a review, or move the alias.",
               action="Open the version")
        ExternalRegistryLink.objects.filter(pk=link.pk).update(shadow_notified_at=timezone.now())
    elif not shadowed and link.shadow_notified_at is not None:
        ExternalRegistryLink.objects.filter(pk=link.pk).update(shadow_notified_at=None)


def portal_tags(version: ModelVersion) -> dict[str, str]:
    state = VersionGovernance.objects.filter(version=version).first()
    return {TAG_STATE: state.status if state else "", TAG_APPROVAL: state.approval if state else "",
            TAG_URL: settings.PORTAL_BASE_URL.rstrip("/") + version.get_absolute_url()}


def _write_back(client: MlflowClient, name: str, version: ModelVersion, detail: dict, outcome: Outcome) -> None:
    """The version's governance state as MLflow tags, each written only when MLflow holds another value."""
    current = {t["key"]: t["value"] for t in detail.get("tags", [])}
    for key, value in portal_tags(version).items():
        if current.get(key) != value:
            client.set_version_tag(name, str(detail["version"]), key, value)
            outcome.counts["tags_written"] += 1


def sync_now(*, actor, server: MlflowServer, max_pages: int | None = None) -> SyncRun:
    """Queue and run a sync in this process (the management command, tests); the pages and API queue instead."""
    run = sync_request(actor=actor, server=server, enqueue=False)
    return sync_execute(run_id=run.pk, max_pages=max_pages) or run

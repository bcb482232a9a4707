"""Model cards (Mitchell et al., 2019, "Model Cards for Model Reporting") built from what the portal knows.

``build_model_card(version)`` returns a plain, JSON-serialisable dict: the card's
sections in the paper's order (its "quantitative analyses" hold the production
monitoring results), then the version's governance state as stored, the one the
production gate and the API read (status, health, approval, reasons). Every field
holds either a value or ``missing: True`` with a hint saying where to record it, so
an incomplete card tells its reader what to ask for rather than hiding the gap.
``to_markdown(card)`` renders that dict without touching the database; the HTML
page renders the same dict.

Field kinds: ``text`` (a string), ``list`` (strings), ``mapping`` ({key: value})
and ``table`` ({"columns": [...], "rows": [[...], ...]}).
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.inventory import governance as g
from apps.inventory.models import (
    AutomationLevel,
    Deployment,
    Exposure,
    LegalBasis,
    ModelVersion,
    Stage,
)
from apps.inventory.selectors import stored_governance

CARD_FORMAT = "mlops-portal/model-card/1"
FORMATS = ("html", "md", "json")


def card_versions() -> QuerySet[ModelVersion]:
    """Versions with everything a card reads, in a constant number of queries."""
    return ModelVersion.objects.select_related(
        "model__team__business_unit", "model__accountable_owner", "created_by", "governance"
    ).prefetch_related(
        "model__technical_owners",
        "model__tags",
        "model__business_processes__business_unit",
        "training_datasets__owner",
        Prefetch("deployments", queryset=Deployment.objects.select_related("business_process")),
    )


# --- Building -------------------------------------------------------------------------------------------

def url_or_none(name: str, **kwargs) -> str | None:
    # Some pages a hint points to are built alongside this one; a card must render before they exist.
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


def _field(key: str, label: str, value: Any, *, kind: str = "text", hint: str = "", link: str | None = None) -> dict:
    missing = value in (None, "", [], {}) or (kind == "table" and not value["rows"])
    return {
        "key": key,
        "label": label,
        "kind": kind,
        "value": None if missing else value,
        "missing": missing,
        "hint": f"Not recorded: {hint}" if missing and hint else "",
        "link": link if missing else None,
    }


def _section(key: str, title: str, fields: Iterable[dict]) -> dict:
    return {"key": key, "title": title, "fields": list(fields)}


def _person(user) -> str:
    if user is None:
        return ""
    name = user.get_full_name()
    text = f"{name} ({user.get_username()})" if name else user.get_username()
    return text if user.is_active else f"{text}, has left"


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _environment(fingerprint: dict) -> dict:
    if not fingerprint:
        return {}
    flat = {"Python": fingerprint.get("python"), "OS": fingerprint.get("os")}
    flat.update({str(k): _scalar(v) for k, v in sorted((fingerprint.get("packages") or {}).items())})
    return {k: v for k, v in flat.items() if v not in (None, "")}


def _links(version: ModelVersion) -> dict[str, str | None]:
    slug = version.model.slug
    return {
        "model_edit": url_or_none("inventory:model-edit", slug=slug),
        "version": url_or_none("inventory:version-detail", slug=slug, version=version.version),
        "deploy": url_or_none("inventory:deployment-create", slug=slug, version=version.version),
        "datasets": url_or_none("inventory:dataset-list"),
        "monitoring": url_or_none("monitoring:index"),
    }


def _model_details(version: ModelVersion, links: dict) -> dict:
    model = version.model
    on_version = "on the version page"
    return _section("model_details", "Model details", [
        _field("name", "Model", model.name),
        _field("version", "Version", version.version),
        _field("stage", "Lifecycle stage", Stage(version.stage).label),
        _field("description", "Version description", version.description,
               hint=f"describe what changed in this version {on_version}.", link=links["version"]),
        _field("purpose", "Purpose", model.purpose, hint="state the model's purpose on the model's edit page.",
               link=links["model_edit"]),
        _field("task_type", "Task", model.get_task_type_display()),
        _field("algorithm", "Algorithm", version.algorithm, hint=f"add the algorithm {on_version}.",
               link=links["version"]),
        _field("framework", "Framework", version.framework, hint=f"add the framework and its version {on_version}.",
               link=links["version"]),
        _field("hyperparameters", "Hyperparameters",
               {str(k): _scalar(v) for k, v in sorted(version.hyperparameters.items())}, kind="mapping",
               hint=f"add the hyperparameters {on_version}.", link=links["version"]),
        _field("developed_by", "Developed by", f"{model.team} ({model.team.business_unit})"),
        _field("accountable_owner", "Accountable owner", _person(model.accountable_owner)),
        _field("technical_owners", "Technical owners", [_person(u) for u in model.technical_owners.all()],
               kind="list", hint="name the technical owners on the model's edit page.", link=links["model_edit"]),
        _field("registered", "Version registered",
               f"{version.created_at:%Y-%m-%d}" + (f" by {_person(version.created_by)}" if version.created_by else "")),
        _field("artifact_uri", "Artefact", version.artifact_uri, hint=f"add where the artefact is stored {on_version}.",
               link=links["version"]),
        _field("artifact_sha256", "Artefact SHA-256", version.artifact_sha256,
               hint=f"add the artefact's SHA-256 {on_version} so the deployed file can be checked.",
               link=links["version"]),
        _field("tags", "Tags", [t.name for t in model.tags.all()], kind="list",
               hint="add tags on the model's edit page.", link=links["model_edit"]),
    ])


def _deployments_table(version: ModelVersion) -> dict:
    rows = []
    for d in version.deployments.all():
        status = "active" if d.is_active else f"retired {d.retired_at:%Y-%m-%d}"
        check = "differs from validated" if d.environment_mismatch else "matches validated"
        rows.append([d.get_environment_display(), d.get_kind_display(), d.target,
                     str(d.business_process or ""), f"{d.deployed_at:%Y-%m-%d}", status, check])
    return {"columns": ["Environment", "Kind", "Target", "Business process", "Deployed", "Status", "Environment check"],
            "rows": rows}


def _intended_use(version: ModelVersion, links: dict) -> dict:
    model = version.model
    processes = {
        "columns": ["Business process", "Business unit", "Decision", "Decisions per day"],
        "rows": [[p.name, str(p.business_unit), p.decision, _scalar(p.decisions_per_day) or ""]
                 for p in model.business_processes.all()],
    }
    return _section("intended_use", "Intended use", [
        _field("primary_uses", "Primary intended uses", model.intended_use,
               hint="add the intended use on the model's edit page.", link=links["model_edit"]),
        _field("business_processes", "Business processes supported", processes, kind="table",
               hint="link the business processes the model supports on the model's edit page.",
               link=links["model_edit"]),
        _field("out_of_scope", "Out-of-scope uses", model.out_of_scope_uses,
               hint="list uses the model must not be put to on the model's edit page.", link=links["model_edit"]),
        _field("deployments", "Deployments", _deployments_table(version), kind="table",
               hint="record a deployment from the version page once the version runs somewhere.",
               link=links["deploy"]),
    ])


def _factors(version: ModelVersion, links: dict) -> dict:
    return _section("factors", "Factors", [
        _field("groups", "Relevant groups", "",
               hint="name the groups (e.g. age bands, regions, channels) whose results were compared, "
                    "in the version description.", link=links["version"]),
        _field("environment", "Validated software environment", _environment(version.validated_environment),
               kind="mapping", hint="add the environment fingerprint the version was validated in on the version "
                                    "page or through the API.", link=links["version"]),
    ])


def _metrics(version: ModelVersion, links: dict) -> dict:
    thresholds = {str(k): _scalar(v) for k, v in version.hyperparameters.items() if "threshold" in str(k).lower()}
    return _section("metrics", "Metrics", [
        _field("performance_measures", "Performance measures", sorted(map(str, version.validation_metrics)),
               kind="list", hint='add validation metrics (e.g. {"roc_auc": 0.91}) on the version page.',
               link=links["version"]),
        _field("decision_thresholds", "Decision thresholds", thresholds, kind="mapping",
               hint='add the decision threshold as a hyperparameter (e.g. "threshold") on the version page.',
               link=links["version"]),
    ])


def _evaluation_data(version: ModelVersion, links: dict) -> dict:
    return _section("evaluation_data", "Evaluation data", [
        _field("datasets", "Evaluation data sets", "",
               hint="describe the hold-out data the metrics were measured on in the version description.",
               link=links["version"]),
    ])


def _training_data(datasets: list, links: dict) -> dict:
    table = {
        "columns": ["Data set", "Kind", "Source system", "Owner", "Collected"],
        "rows": [[str(d), d.get_kind_display(), d.source_system, _person(d.owner), _period(d)] for d in datasets],
    }
    schema = {
        "columns": ["Data set", "Columns"],
        "rows": [[str(d), ", ".join(_column(c) for c in d.schema)] for d in datasets if d.schema],
    }
    return _section("training_data", "Training data", [
        _field("datasets", "Training data sets", table, kind="table",
               hint="link the training data sets on the version page.", link=links["version"]),
        _field("schema", "Schema", schema, kind="table",
               hint="add the column schema on each training data set's page.", link=links["datasets"]),
    ])


def _period(dataset) -> str:
    start, end = dataset.collection_start, dataset.collection_end
    if not start and not end:
        return ""
    return f"{start or '…'} to {end or '…'}"


def _column(column: Any) -> str:
    if isinstance(column, dict):
        name, kind = column.get("name", "?"), column.get("type")
        return f"{name} ({kind})" if kind else str(name)
    return str(column)


MONITORING_CODES = ("alert_breach", "alert_warning", "monitoring_never", "monitoring_overdue", "monitoring_due",
                    "approval_suspended", "risk_accepted")


def _monitoring(state, links: dict) -> dict:
    """Monitoring results as the stored state has them: its health, and what its monitoring reasons say.

    Missing only where there is nothing to monitor (not in production) or no evidence yet; an open alert
    always shows, whether or not the evidence is current.
    """
    label = "Monitoring results"
    if state is None:
        return _field("monitoring", label, "", hint="the version's governance state has not been computed yet.")
    said = [r for r in state.reasons if r["code"] in MONITORING_CODES]
    if state.health == g.NOT_MONITORED:
        return _field("monitoring", label, "", hint="production monitoring results appear here once this version "
                      "runs in production and is evaluated.", link=links["monitoring"])
    if state.health == g.NO_EVIDENCE:
        hint = " ".join(r["message"] for r in said) or "this version has no monitoring evidence within its cadence."
        return _field("monitoring", label, "", hint=hint,
                      link=next((r["url"] for r in said if r.get("url")), links["monitoring"]))
    text = f"{state.health_label}." + ("".join(f" {r['message']}" for r in said) or
                                       " Monitoring results within its tier's cadence and no open alert.")
    return _field("monitoring", label, text)


def _quantitative(version: ModelVersion, state, links: dict) -> dict:
    results = {str(k): _scalar(v) for k, v in sorted(version.validation_metrics.items())}
    return _section("quantitative_analyses", "Quantitative analyses", [
        _field("validation_results", "Validation results", results, kind="mapping",
               hint="add validation metrics on the version page.", link=links["version"]),
        _monitoring(state, links),
    ])


def _governance(state) -> dict:
    """The version's stored governance state: the same status, health, approval and reasons as the gate's."""
    if state is None:
        return _section("governance", "Governance state", [
            _field("status", "Governance state", "", hint="the version's state has not been computed yet; it is "
                   "within minutes.")])
    reasons = {"columns": ["Level", "Reason", "Blocks production"],
               "rows": [[g.STATUS_LABELS.get(r["level"], r["level"]), r["message"],
                         "yes" if r.get("blocks_gate") else "no"] for r in state.reasons]}
    return _section("governance", "Governance state", [
        _field("status", "Governance state", state.status_label),
        _field("health", "Health", state.health_label),
        _field("approval", "Approval", state.approval_label),
        _field("tier", "Risk tier", state.tier.capitalize() if state.tier else "Not assessed (treated as critical)"),
        _field("reasons", "Reasons", reasons if reasons["rows"] else
               "None: it holds everything its tier's policy asks for at its stage.",
               kind="table" if reasons["rows"] else "text"),
        _field("computed_at", "Computed", f"{state.computed_at:%Y-%m-%d %H:%M}"),
    ])


def _ethics(version: ModelVersion, datasets: list, links: dict) -> dict:
    model = version.model
    personal = {
        "columns": ["Data set", "Personal data", "Legal basis", "Consent notes"],
        "rows": [[str(d), "yes" if d.contains_personal_data else "no",
                  LegalBasis(d.legal_basis).label if d.contains_personal_data else "", d.consent_notes]
                 for d in datasets],
    }
    return _section("ethical_considerations", "Ethical considerations", [
        _field("personal_data", "Personal data in training data", personal, kind="table",
               hint="link the training data sets on the version page, with their personal data and legal basis.",
               link=links["version"]),
        _field("exposure", "Exposure", Exposure(model.exposure).label),
        _field("automation_level", "Automation level", AutomationLevel(model.automation_level).label),
        _field("scale", "Scale of the decisions", _scale(model.business_processes.all()),
               hint="link business processes (with their decisions per day) on the model's edit page.",
               link=links["model_edit"]),
    ])


def _scale(processes) -> str:
    processes = list(processes)
    if not processes:
        return ""
    per_day = sum(p.decisions_per_day or 0 for p in processes)
    at_stake = sum(p.value_at_stake or 0 for p in processes)
    text = f"Supports {len(processes)} business process{'es' if len(processes) != 1 else ''}"
    if per_day:
        text += f" making about {per_day:,} decisions a day"
    if at_stake:
        text += f", with EUR {at_stake:,.0f} a year at stake"
    return text + "."


def _caveats(version: ModelVersion, datasets: list, links: dict) -> dict:
    return _section("caveats", "Caveats and recommendations", [
        _field("detected", "Detected by the portal", _detected_caveats(version, datasets) or
               ["None of the portal's checks found a problem."], kind="list"),
        _field("recommendations", "Known limitations and recommendations", "",
               hint="write known limitations and recommendations in the version description.",
               link=links["version"]),
    ])


def _detected_caveats(version: ModelVersion, datasets: list) -> list[str]:
    model, found = version.model, []
    owner = model.accountable_owner
    if not owner.is_active:
        found.append(f"The accountable owner {owner.get_username()} has left: name a new one.")
    if version.stage in (Stage.DEVELOPMENT, Stage.VALIDATION):
        found.append(f"This version is in {Stage(version.stage).label.lower()} and is not approved for production.")
    elif version.stage == Stage.RETIRED:
        found.append("This version is retired and must not be used for new decisions.")
    for d in version.deployments.all():
        if d.is_active and d.environment_mismatch:
            details = "; ".join(f"{m.get('component')}: validated {m.get('validated')}, runs {m.get('runtime')}"
                                for m in d.mismatch_details if isinstance(m, dict))
            found.append(f"The {d.get_environment_display().lower()} deployment at {d.target} runs in an "
                         f"environment that differs from the validated one ({details or 'see the deployment'}).")
    if not datasets:
        found.append("No training data is recorded, so its lineage and personal data cannot be checked.")
    uses_personal = any(d.contains_personal_data for d in datasets)
    if uses_personal and model.automation_level == AutomationLevel.FULLY_AUTOMATED:
        found.append("Fully automated decisions based on personal data: people affected may have a right to "
                     "human review (GDPR Art. 22).")
    if not version.validation_metrics:
        found.append("No validation metrics are recorded for this version.")
    return found


def build_model_card(version: ModelVersion) -> dict:
    """The card of ``version`` as an ordered, JSON-serialisable dict (load it with ``card_versions()``)."""
    model = version.model
    links = _links(version)
    datasets = list(version.training_datasets.all())
    state = stored_governance(version)
    sections = [
        _model_details(version, links),
        _intended_use(version, links),
        _factors(version, links),
        _metrics(version, links),
        _evaluation_data(version, links),
        _training_data(datasets, links),
        _quantitative(version, state, links),
        _ethics(version, datasets, links),
        _caveats(version, datasets, links),
        _governance(state),
    ]
    fields = [f for s in sections for f in s["fields"]]
    return {
        "format": CARD_FORMAT,
        "title": f"Model card: {model.name} {version.version}",
        "model": {"name": model.name, "slug": model.slug, "version": version.version, "stage": version.stage},
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "completeness": {"recorded": sum(not f["missing"] for f in fields), "total": len(fields)},
        "sections": sections,
    }


# --- Rendering ----------------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def _md(value: Any) -> str:
    """Escape text so a card's content cannot inject Markdown or raw HTML."""
    return str(value).translate(_MD_SPECIAL)


def _md_cell(value: Any) -> str:
    return _md(value).replace("\r", "").replace("\n", "<br>")


def _md_table(columns: list, rows: list) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_field(field: dict) -> list[str]:
    label, value = f"**{_md(field['label'])}:**", field["value"]
    if field["missing"]:
        return [f"{label} _{_md(field['hint'] or 'Not recorded.')}_"]
    kind = field["kind"]
    if kind == "text" and "\n" not in str(value):
        return [f"{label} {_md(value)}"]
    if kind == "text":
        return [label, "", *(_md(line) for line in str(value).splitlines())]
    if kind == "list":
        return [label, "", *(f"- {_md(item)}" for item in value)]
    if kind == "mapping":
        return [label, "", *_md_table(["Name", "Value"], [[k, v] for k, v in value.items()])]
    return [label, "", *_md_table(value["columns"], value["rows"])]


def to_markdown(card: dict) -> str:
    """The card as a Markdown document (pure: reads only the dict)."""
    done = card["completeness"]
    lines = [
        f"# {_md(card['title'])}",
        "",
        f"_Generated by the MLOps Portal on {card['generated_at']}; "
        f"{done['recorded']} of {done['total']} fields recorded._",
    ]
    for number, section in enumerate(card["sections"], start=1):
        lines += ["", f"## {number}. {_md(section['title'])}"]
        for field in section["fields"]:
            lines += ["", *_md_field(field)]
    return "\n".join(lines) + "\n"


def to_json(card: dict) -> dict:
    """The JSON form is the card itself; named so callers say which rendering they want."""
    return card

"""Documents generated from a version's records: the EU AI Act's Annex IV technical documentation and an
SR 11-7-style validation report.

``document_records(version, kind=..., generated_at=...)`` reads every record a document shows into plain
values, ordered so the same records always read the same way; ``render_html`` turns them into a printable page
(inline print stylesheet, nothing fetched) and ``render_pdf`` that page into a PDF whose metadata dates and
file identifier come from the stated timestamp, never from the clock. The same records at the same stated time
therefore give the same bytes; a changed record gives different ones.

Findings and incidents come from their own app once it exists: ``_findings`` and ``_incidents`` are the two
places that read them.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from apps.compliance import selectors
from apps.compliance.models import Classification, DocumentKind
from apps.core.models import AuditEvent
from apps.findings import selectors as findings_selectors
from apps.inventory.models import Deployment, MLModel, ModelVersion, PipelineStep
from apps.monitoring import selectors as monitoring
from apps.monitoring.models import Alert, Evaluation, MetricWindow
from apps.reviews.models import Review
from apps.risk.selectors import assessment_history, obligations_for

HISTORY_LIMIT = 300  # audit events listed in the change history, newest first
WINDOWS_LIMIT = 24  # monitoring windows listed
ALERTS_LIMIT = 50

# Each kind's sections in order: (section key, heading). A section's template is documents/sections/<key>.html.
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    DocumentKind.ANNEX_IV: [
        ("general", "General description: purpose, intended use and accountability"),
        ("classification", "Classification under the EU AI Act"),
        ("development", "Development: method, training and artefact"),
        ("data", "Data and data governance: lineage, provenance and legal basis"),
        ("evaluation", "Performance and per-group fairness"),
        ("drift", "Drift"),
        ("environment", "Environment fidelity"),
        ("risk", "Risk management: risk-assessment history"),
        ("approvals", "Human oversight: approvals and checklist verdicts"),
        ("controls", "Compliance controls status"),
        ("monitoring", "Post-market monitoring: plan and results"),
        ("findings", "Validation findings"),
        ("incidents", "Incidents"),
        ("history", "Changes through the life cycle: audit trail"),
    ],
    DocumentKind.SR_11_7: [
        ("general", "Model overview: purpose, use and accountability"),
        ("development", "Conceptual soundness: method and development"),
        ("data", "Conceptual soundness: data lineage and provenance"),
        ("evaluation", "Outcomes analysis: performance and per-group fairness"),
        ("drift", "Outcomes analysis: drift"),
        ("environment", "Implementation: environment fidelity"),
        ("risk", "Model risk rating: risk-assessment history"),
        ("approvals", "Effective challenge: approvals and checklist verdicts"),
        ("findings", "Validation findings"),
        ("monitoring", "Ongoing monitoring: plan and results"),
        ("incidents", "Incidents"),
        ("classification", "Regulatory classification"),
        ("controls", "Compliance controls status"),
        ("history", "Change history: audit trail"),
    ],
}
TITLES = {
    DocumentKind.ANNEX_IV: "Technical documentation (EU AI Act, Article 11 and Annex IV)",
    DocumentKind.SR_11_7: "Model validation report (SR 11-7 / OCC 2011-12)",
}


def person(user) -> str:
    if user is None:
        return "—"
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def _findings(version: ModelVersion) -> list:
    """Validation findings of ``version``, oldest first, open or closed."""
    return list(findings_selectors.findings_for_version(version))


def _incidents(model: MLModel) -> list:
    """Incidents of ``model``, in the order they happened, with their timelines."""
    return list(findings_selectors.incidents_for_model(model))


@dataclass
class Records:
    """Everything one document shows, read once."""

    kind: str
    title: str
    reference: str
    number: int
    generated_at: datetime
    version: ModelVersion
    model: MLModel
    sections: list[dict]
    data: dict


def _version(version_pk: int) -> ModelVersion:
    return (ModelVersion.objects.select_related("model__team__business_unit", "model__accountable_owner",
                                                "created_by", "governance")
            .prefetch_related("model__technical_owners", "model__business_processes__accountable_executive",
                              "model__business_processes__business_unit", "training_datasets__owner")
            .get(pk=version_pk))


def _datasets(version: ModelVersion) -> list[dict]:
    datasets = sorted(version.training_datasets.all(), key=lambda d: (d.name, d.version, d.pk))
    steps = (PipelineStep.objects.filter(output__in=datasets).prefetch_related("inputs").order_by("name", "pk"))
    producers: dict[int, list[PipelineStep]] = {}
    for step in steps:
        producers.setdefault(step.output_id, []).append(step)
    return [{"dataset": d, "owner": person(d.owner) if d.owner_id else "—",
             "steps": [{"name": s.name, "code_uri": s.code_uri,
                        "inputs": sorted(str(i) for i in s.inputs.all())} for s in producers.get(d.pk, [])]}
            for d in datasets]


def _evaluations(version: ModelVersion, rules: dict) -> dict:
    done = list(Evaluation.objects.filter(version=version, status=Evaluation.Status.DONE)
                .order_by("-finished_at", "-pk"))
    latest = done[0] if done else None
    report = (monitoring.evaluation_report(latest.metrics, rules=rules, baseline=version.validation_metrics)
              if latest else None)
    return {"all": done, "latest": latest, "report": report}


def _environment(version: ModelVersion) -> dict:
    env = version.validated_environment or {}
    packages = sorted((str(k), str(v)) for k, v in (env.get("packages") or {}).items())
    deployments = list(Deployment.objects.filter(version=version).select_related("business_process")
                       .order_by("deployed_at", "pk"))
    return {"python": env.get("python", ""), "os": env.get("os", ""), "packages": packages,
            "deployments": [{"deployment": d, "differences": [
                f"{m.get('component')}: validated {m.get('validated')}, runs {m.get('runtime')}"
                for m in (d.mismatch_details or [])]} for d in deployments]}


def _assessments(model: MLModel) -> list:
    rows = list(assessment_history(model))
    rows.sort(key=lambda a: (a.submitted_at or a.created_at, a.pk), reverse=True)
    return rows


def _reviews(version: ModelVersion) -> list[Review]:
    return list(Review.objects.filter(version=version).select_related("submitted_by", "owner_acknowledged_by")
                .prefetch_related("decisions__reviewer", "decisions__verdicts__item").order_by("round", "pk"))


def _monitoring(version: ModelVersion, model: MLModel, generated_at: datetime) -> dict:
    obligations = obligations_for(model)
    policy = obligations.policy
    due = obligations.reassessment_due
    windows = list(MetricWindow.objects.filter(version=version).order_by("-window_end", "-pk")[:WINDOWS_LIMIT])
    alerts = list(Alert.objects.filter(version=version).order_by("-created_at", "-pk")[:ALERTS_LIMIT])
    return {
        "tier": obligations.tier, "policy": policy, "rules": sorted(obligations.thresholds.rules.items()),
        "reassessment_due": due, "overdue": bool(due and due < generated_at.date()),
        "windows": windows, "alerts": alerts,
        "open_alerts": sum(1 for a in alerts if a.status != Alert.Status.RESOLVED),
    }


def _evidence(compliance) -> list:
    """Each evidence kind the applicable controls rest on, once, in the order the controls first name it."""
    seen: dict[str, object] = {}
    for result in compliance.results:
        for evidence in result.evidence:
            seen.setdefault(evidence.kind, evidence)
    return list(seen.values())


def _history(version: ModelVersion, model: MLModel, reviews: list[Review]) -> list[AuditEvent]:
    review_type = Review._meta.label_lower
    wanted = (Q(object_type=MLModel._meta.label_lower, object_id=str(model.pk))
              | Q(object_type=ModelVersion._meta.label_lower, object_id=str(version.pk)))
    if reviews:
        wanted |= Q(object_type=review_type, object_id__in=[str(r.pk) for r in reviews])
    return list(AuditEvent.objects.filter(wanted).order_by("-seq")[:HISTORY_LIMIT])


def document_records(version: ModelVersion, *, kind: str, number: int, generated_at: datetime) -> Records:
    """Read every record the document of ``kind`` shows for ``version`` (a constant number of queries)."""
    if kind not in LAYOUTS:
        raise ValueError(f"Unknown document kind {kind!r}; use one of {', '.join(LAYOUTS)}.")
    version = _version(version.pk)
    model = version.model
    generated_at = generated_at.astimezone(UTC).replace(microsecond=0)
    evaluations = _evaluations(version, obligations_for(model).thresholds.rules)
    reviews = _reviews(version)
    compliance = selectors.model_compliance(selectors.models_for_compliance().get(pk=model.pk))
    data = {
        "technical_owners": sorted(person(u) for u in model.technical_owners.all()),
        "processes": sorted(model.business_processes.all(), key=lambda p: (p.name, p.pk)),
        "classification": Classification.objects.filter(model=model).select_related("classified_by").first(),
        "datasets": _datasets(version),
        "hyperparameters": sorted((str(k), v) for k, v in (version.hyperparameters or {}).items()),
        "validation_metrics": sorted((str(k), v) for k, v in (version.validation_metrics or {}).items()),
        "evaluations": evaluations,
        "environment": _environment(version),
        "assessments": _assessments(model),
        "reviews": reviews,
        "monitoring": _monitoring(version, model, generated_at),
        "compliance": compliance,
        "evidence": _evidence(compliance),
        "framework_names": selectors.framework_names(),
        "findings": _findings(version),
        "incidents": _incidents(model),
        "history": _history(version, model, reviews),
    }
    sections = [{"number": i, "key": key, "title": title, "template": f"compliance/documents/sections/{key}.html"}
                for i, (key, title) in enumerate(LAYOUTS[kind], start=1)]
    reference = f"{model.slug}-{version.version}-{kind}-{number}"
    return Records(kind=kind, title=TITLES[kind], reference=reference, number=number, generated_at=generated_at,
                   version=version, model=model, sections=sections, data=data)


def render_html(records: Records) -> bytes:
    """The printable page. Dates are shown in UTC whatever the portal's time zone, so the bytes do not move."""
    with timezone.override(UTC):
        html = render_to_string("compliance/documents/document.html", {
            "doc": records, "version": records.version, "model": records.model, **records.data})
    return html.encode("utf-8")


def pdf_identifier(records: Records) -> bytes:
    """The PDF's file identifier, derived from the document's reference and stated time (never random)."""
    return hashlib.sha256(f"{records.reference}|{records.generated_at.isoformat()}".encode()).hexdigest()[:32].encode()


@dataclass(frozen=True)
class Rendered:
    html: bytes
    pdf: bytes
    pages: int


def render(records: Records) -> Rendered:
    """HTML and PDF of the document. WeasyPrint is imported here: it loads Pango, which only this needs."""
    import weasyprint

    html = render_html(records)
    document = weasyprint.HTML(string=html.decode("utf-8"), base_url=None).render()
    pdf = document.write_pdf(pdf_identifier=pdf_identifier(records))
    return Rendered(html=html, pdf=pdf, pages=len(document.pages))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

"""Writes of compliance: a model's classification, the frameworks' versions and controls, and the documents
generated for a version, each audited."""

from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.forms.models import model_to_dict
from django.utils import timezone

from apps.compliance import documents
from apps.compliance import evaluation as ev
from apps.compliance.models import Classification, Control, FindingControl, FrameworkVersion, GeneratedDocument
from apps.core.errors import ConflictError, DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record, changes_between
from apps.findings.models import Finding
from apps.inventory.models import MLModel, ModelVersion
from apps.reviews import transitions
from apps.reviews.models import Review

CLASSIFICATION_FIELDS = ("eu_category", "annex_iii_area", "role", "rationale")


def classification_problems(*, eu_category: str, annex_iii_area: str, role: str) -> dict[str, str]:
    """What is wrong with the answers, by field, in sentences a person can act on."""
    problems = {}
    if eu_category not in ev.EU_CATEGORIES:
        problems["eu_category"] = f"Choose one of: {', '.join(ev.EU_CATEGORIES)}."
    if annex_iii_area not in ev.ANNEX_III_AREAS:
        problems["annex_iii_area"] = f"Choose one of: {', '.join(ev.ANNEX_III_AREAS)}."
    if role not in ev.ROLES:
        problems["role"] = "Choose provider or deployer."
    if eu_category == "high_risk" and annex_iii_area == "none":
        problems["annex_iii_area"] = ("A high-risk system is high-risk through an Annex III area or as a safety "
                                      "component of an Annex I product: choose which.")
    return problems


@transaction.atomic
def classification_save(*, actor, model: MLModel, eu_category: str, annex_iii_area: str, role: str,
                        rationale: str = "") -> Classification:
    """Record or change ``model``'s classification; the audit trail keeps every earlier answer."""
    require(actor, Capability.CLASSIFY_MODEL, model)
    problems = classification_problems(eu_category=eu_category, annex_iii_area=annex_iii_area, role=role)
    if problems:
        field, message = next(iter(problems.items()))
        raise DomainError(message, field=field)
    current = Classification.objects.select_for_update().filter(model=model).first()
    before = model_to_dict(current, fields=CLASSIFICATION_FIELDS) if current else {}
    classification = current or Classification(model=model)
    for name, value in (("eu_category", eu_category), ("annex_iii_area", annex_iii_area), ("role", role),
                        ("rationale", rationale.strip())):
        setattr(classification, name, value)
    changes = changes_between(before, model_to_dict(classification, fields=CLASSIFICATION_FIELDS))
    if current and not changes:
        return current
    classification.classified_by = actor
    classification.save()
    audit_record(actor=actor, action="model.classified", obj=model, changes=changes,
                 reason=rationale.strip()[:500])
    return classification


@transaction.atomic
def framework_version_draft(*, actor, source: FrameworkVersion, version: str) -> FrameworkVersion:
    """A new draft version of ``source``'s framework, its controls copied from ``source`` to edit."""
    require(actor, Capability.EDIT_FRAMEWORKS)
    version = version.strip()
    if not version:
        raise DomainError("Name the new version, e.g. the edition of the source it follows.", field="version")
    if FrameworkVersion.objects.filter(framework=source.framework, version=version).exists():
        raise ConflictError(f"{source.framework} already has a version {version}; choose another label.")
    draft = FrameworkVersion.objects.create(framework=source.framework, version=version, source=source.source)
    Control.objects.bulk_create(
        Control(framework_version=draft, **model_to_dict(c, exclude=("id", "framework_version")))
        for c in source.controls.all())
    audit_record(actor=actor, action="framework.version_drafted", obj=draft,
                 changes={"copied_from": [None, str(source)]})
    return draft


@transaction.atomic
def framework_version_publish(*, actor, version: FrameworkVersion) -> FrameworkVersion:
    """Put a draft in force; the version it replaces is retired and kept, with whatever points at it."""
    require(actor, Capability.EDIT_FRAMEWORKS)
    version = FrameworkVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != FrameworkVersion.Status.DRAFT:
        raise ConflictError(f"{version} is {version.get_status_display().lower()}; only a draft is published.")
    problems = [f"{c.code}: {p}" for c in version.controls.all() for p in c.spec().problems()]
    if not version.controls.exists():
        problems.append("It has no controls.")
    if problems:
        raise DomainError(f"{version} cannot be published: {' '.join(problems)}")
    retired = list(FrameworkVersion.objects.select_for_update().filter(
        framework=version.framework, status=FrameworkVersion.Status.PUBLISHED))
    for old in retired:
        old.status = FrameworkVersion.Status.RETIRED
        old.save(update_fields=["status", "updated_at"])
    version.status, version.published_at = FrameworkVersion.Status.PUBLISHED, timezone.now()
    version.save(update_fields=["status", "published_at", "updated_at"])
    audit_record(actor=actor, action="framework.version_published", obj=version,
                 changes={"retired": [None, [str(v) for v in retired]]})
    return version


CONTROL_FIELDS = ("code", "title", "summary", "reference", "evidence", "eu_categories", "roles", "tiers", "order")


@transaction.atomic
def control_save(*, actor, control: Control) -> Control:
    """Create or change a control of a draft version; a published or retired version's controls are frozen."""
    require(actor, Capability.EDIT_FRAMEWORKS)
    version = FrameworkVersion.objects.select_for_update().get(pk=control.framework_version_id)
    if version.frozen:
        raise ConflictError(f"{version} is {version.get_status_display().lower()}: its controls are frozen so the "
                            "evidence recorded against them keeps its meaning. Start a new draft version to change "
                            "them.")
    control.full_clean()
    before = model_to_dict(Control.objects.get(pk=control.pk), fields=CONTROL_FIELDS) if control.pk else {}
    control.save()
    audit_record(actor=actor, action="framework.control_saved", obj=control,
                 changes=changes_between(before, model_to_dict(control, fields=CONTROL_FIELDS)))
    return control


def _next_number(version: ModelVersion, kind: str) -> int:
    return (GeneratedDocument.objects.filter(version=version, kind=kind).aggregate(n=Max("number"))["n"] or 0) + 1


GENERATE_ATTEMPTS = 3


def document_generate(*, actor, version: ModelVersion, kind: str, at: datetime | None = None) -> GeneratedDocument:
    """Generate the next numbered document of ``kind`` for ``version`` from its records, store its HTML and PDF
    through the storage API with their SHA-256, and audit it. ``at`` is the timestamp the document states.

    Rendering takes a second or two, so it happens outside the write transaction (on SQLite that would hold the
    database's write lock); the transaction then checks the number is still the next one, and renders again in
    the rare case someone else took it meanwhile. The unique (version, kind, number) is the last line of defence.
    """
    require(actor, Capability.GENERATE_DOCUMENT, version.model)
    if kind not in documents.LAYOUTS:
        raise DomainError(f"Choose a document kind: {', '.join(documents.LAYOUTS)}.", field="kind")
    at = at or timezone.now()
    for _ in range(GENERATE_ATTEMPTS):
        number = _next_number(version, kind)
        records = documents.document_records(version, kind=kind, number=number, generated_at=at)
        rendered = documents.render(records)
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if _next_number(locked, kind) != number:
                continue
            return _document_store(actor=actor, version=locked, records=records, rendered=rendered)
    raise ConflictError(f"Others generated {kind} documents of {version} at the same moment; generate it again.")


def _document_store(*, actor, version: ModelVersion, records, rendered) -> GeneratedDocument:
    kind, number = records.kind, records.number
    document = GeneratedDocument(version=version, kind=kind, number=number, generated_at=records.generated_at,
                                 generated_by=actor, html_sha256=documents.sha256(rendered.html),
                                 pdf_sha256=documents.sha256(rendered.pdf), pages=rendered.pages)
    document.html.save(f"{kind}-{number}.html", ContentFile(rendered.html), save=False)
    document.pdf.save(f"{kind}-{number}.pdf", ContentFile(rendered.pdf), save=False)
    document.save()
    audit_record(actor=actor, action="document.generated", obj=document, changes={
        "kind": [None, kind], "number": [None, number], "version": [None, str(version)],
        "pdf_sha256": [None, document.pdf_sha256], "html_sha256": [None, document.html_sha256]})
    return document


@transaction.atomic
def document_attach(*, actor, document: GeneratedDocument, review: Review) -> GeneratedDocument:
    """Attach ``document`` to ``review`` as evidence: the reviewer sees it, its hash, and opens it."""
    require(actor, Capability.GENERATE_DOCUMENT, document.version.model)
    if review.version_id != document.version_id:
        raise DomainError(f"{document} is about version {document.version.version}; attach it to a review of that "
                          "version.", field="review")
    if review.state not in transitions.OPEN_STATES:
        raise ConflictError(f"Review round {review.round} is {review.get_state_display().lower()}: its evidence "
                            "is frozen. Attach the document to an open round.")
    if document.reviews.filter(pk=review.pk).exists():
        return document
    document.reviews.add(review)
    audit_record(actor=actor, action="document.attached", obj=document,
                 changes={"review": [None, str(review.pk)]}, reason=f"Attached to {review}")
    return document
@transaction.atomic
def finding_controls_set(*, actor, finding: Finding, controls) -> list[FindingControl]:
    """Link a validation finding to the controls it concerns (controls in force; links to a retired version's
    controls made earlier are kept unless removed). Reviewers and admins, who raise findings, link them."""
    require(actor, Capability.RAISE_FINDING)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)
    if not finding.is_open:
        raise DomainError("A closed finding is frozen; its controls stay as they were when it was closed.")
    wanted = {control.pk: control for control in controls}
    current = {link.control_id: link for link in FindingControl.objects.filter(finding=finding)
               .select_related("control")}
    new = [control for pk, control in wanted.items() if pk not in current]
    stale = [control.code for control in new if control.framework_version.status != FrameworkVersion.Status.PUBLISHED]
    if stale:
        raise DomainError(f"Link only controls in force; {', '.join(stale)} belong to a version no longer in force.",
                          field="controls")
    before = sorted(link.control.code for link in current.values())
    FindingControl.objects.filter(finding=finding, control_id__in=set(current) - set(wanted)).delete()
    FindingControl.objects.bulk_create([FindingControl(finding=finding, control=control, linked_by=actor)
                                        for control in new])
    after = sorted(control.code for control in wanted.values())
    if before != after:
        audit_record(actor=actor, action="finding.controls_linked", obj=finding, changes={"controls": [before, after]})
    return list(FindingControl.objects.filter(finding=finding).select_related("control__framework_version__framework"))

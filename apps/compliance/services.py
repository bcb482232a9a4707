"""Writes of compliance: a model's classification and the frameworks' versions and controls, each audited."""

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from apps.compliance import evaluation as ev
from apps.compliance.models import Classification, Control, FindingControl, FrameworkVersion
from apps.core.errors import ConflictError, DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record, changes_between
from apps.findings.models import Finding
from apps.inventory.models import MLModel

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

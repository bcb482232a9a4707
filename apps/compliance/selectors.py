"""Reads of compliance: the controls in force, each model's facts gathered in bulk, and the per-model and
portfolio views built from them by ``apps.compliance.evaluation``.

Facts come from the stored governance state (``ModelGovernance``: tier, approval, reasons) and the records
behind it, in a constant number of queries however many models are asked about. The portfolio view is the
per-model views added up (``evaluation.coverage``), never a second computation.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from django.db.models import Count, Max, Prefetch, Q
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from apps.compliance import evaluation as ev
from apps.compliance.filters import ComplianceModelFilter
from apps.compliance.models import Control, FindingControl, Framework, FrameworkVersion, GeneratedDocument
from apps.core.models import AuditEvent
from apps.findings import rules as finding_rules
from apps.findings.selectors import findings_by_model, incidents_by_model
from apps.inventory import governance as g
from apps.inventory.models import LegalBasis, MLModel, ModelVersion, Stage
from apps.monitoring.models import Evaluation, MetricWindow
from apps.reviews import transitions
from apps.reviews.models import Review
from apps.risk.models import RiskAssessment
from apps.risk.scoring import RISKS

DOCUMENTED_FIELDS = (("purpose", "purpose"), ("intended_use", "intended use"),
                     ("out_of_scope_uses", "out-of-scope uses"))


def frameworks_in_force():
    """Each framework with its published version and that version's controls (three queries)."""
    published = FrameworkVersion.objects.filter(status=FrameworkVersion.Status.PUBLISHED)
    return Framework.objects.prefetch_related(
        Prefetch("versions", queryset=published.prefetch_related("controls"), to_attr="published"))


def controls_in_force() -> list[ev.ControlSpec]:
    """The controls of every framework's published version, in framework order (one query)."""
    rows = (Control.objects.filter(framework_version__status=FrameworkVersion.Status.PUBLISHED)
            .select_related("framework_version__framework")
            .order_by("framework_version__framework__order", "framework_version__framework__name", "order", "code"))
    return [row.spec() for row in rows]


def models_for_compliance():
    """Models with what the facts read from their own rows (one query with the joins)."""
    return (MLModel.objects.select_related("governance", "classification", "team__business_unit")
            .order_by("name"))


def _by_model(rows, key="model_id") -> dict:
    return {row[key]: row for row in rows}


def gather_facts(models: list[MLModel]) -> dict[int, ev.Facts]:
    """Every model's facts in eleven queries, whatever the number of models."""
    ids = [m.pk for m in models]
    assessments = _by_model(
        RiskAssessment.objects.filter(model_id__in=ids, status=RiskAssessment.Status.CURRENT)
        .values("model_id", "submitted_at", "summary").annotate(rated=Count("ratings", distinct=True)))
    live = ModelVersion.objects.filter(model_id__in=ids).exclude(stage=Stage.RETIRED)
    versions: dict[int, list[dict]] = defaultdict(list)
    for row in live.values("pk", "model_id", "stage", "validation_metrics", "validated_environment").annotate(
            datasets=Count("training_datasets", distinct=True)):
        versions[row["model_id"]].append(row)
    # Personal data sets with no legal basis stated, counted once per model however many versions use them.
    unlawful = _by_model(
        live.filter(training_datasets__contains_personal_data=True,
                    training_datasets__legal_basis=LegalBasis.NOT_APPLICABLE)
        .values("model_id").annotate(n=Count("training_datasets", distinct=True)))
    approved = _by_model(
        Review.objects.filter(version__model_id__in=ids, state=transitions.APPROVED)
        .values("version__model_id").annotate(at=Max("decided_at")), key="version__model_id")
    evaluated = _by_model(
        Evaluation.objects.filter(version__model_id__in=ids, kind=Evaluation.Kind.PRODUCTION,
                                  status=Evaluation.Status.DONE)
        .values("version__model_id").annotate(at=Max(Coalesce("period_end", "finished_at"))),
        key="version__model_id")
    # Per-group fairness: an evaluation that named at least one sensitive attribute.
    fairness = _by_model(
        Evaluation.objects.filter(version__model_id__in=ids, status=Evaluation.Status.DONE,
                                  columns__sensitive_features__0__isnull=False)
        .values("version__model_id").annotate(at=Max("finished_at")), key="version__model_id")
    windowed = _by_model(MetricWindow.objects.filter(version__model_id__in=ids).values("version__model_id")
                         .annotate(at=Max("window_end")), key="version__model_id")
    audited = _by_model(
        AuditEvent.objects.filter(object_type=MLModel._meta.label_lower, object_id__in=[str(i) for i in ids])
        .values("object_id").annotate(n=Count("pk"), at=Max("created_at")), key="object_id")
    today = timezone.localdate()
    findings = findings_by_model(ids, today)
    incidents = incidents_by_model(ids)
    return {m.pk: replace(
                _facts(m, assessments.get(m.pk), versions.get(m.pk, []), unlawful.get(m.pk), approved.get(m.pk),
                       _newest(evaluated.get(m.pk), windowed.get(m.pk)), audited.get(str(m.pk)), fairness.get(m.pk)),
                **_finding_facts(findings.get(m.pk)), **_incident_facts(incidents.get(m.pk, []), today))
            for m in models}


def _finding_facts(row) -> dict:
    if not row:
        return {}
    return {"findings_open": row["open"], "findings_overdue": row["overdue"], "findings_closed": row["closed"],
            "findings_closed_at": row["closed_at"]}


def _incident_facts(incidents, today) -> dict:
    if not incidents:
        return {}
    states = [i.report_state(today) for i in incidents if i.is_open]
    return {"incidents_open": sum(1 for i in incidents if i.is_open),
            "incidents_closed": sum(1 for i in incidents if not i.is_open),
            "incidents_report_overdue": states.count(finding_rules.REPORT_OVERDUE),
            "incidents_report_due": states.count(finding_rules.REPORT_DUE),
            "incidents_at": max(i.updated_at for i in incidents)}


def _newest(*rows):
    return max((row["at"] for row in rows if row and row["at"]), default=None)


def _stored_state(model: MLModel):
    try:
        return model.governance
    except MLModel.governance.RelatedObjectDoesNotExist:
        return None


def _classification(model: MLModel):
    try:
        return model.classification
    except MLModel.classification.RelatedObjectDoesNotExist:
        return None


def _facts(model, assessment, versions, unlawful, approved, evidence_at, audited, fairness) -> ev.Facts:
    state = _stored_state(model)
    classification = _classification(model)
    # The model's stored reasons include those of the versions that decide its state (what runs in production).
    codes = frozenset(state.codes) if state else frozenset()
    return ev.Facts(
        classification=classification.fact() if classification else None,
        tier=(state.tier or None) if state else None,
        reason_codes=codes,
        approval=state.approval if state else g.MISSING,
        in_production=any(v["stage"] == Stage.PRODUCTION for v in versions),
        state_at=state.computed_at if state else None,
        assessed_at=assessment["submitted_at"] if assessment else None,
        risks_rated=assessment["rated"] if assessment else 0,
        risks_required=len(RISKS),
        assessment_rationale=bool(assessment and assessment["summary"].strip()),
        approved_at=approved["at"] if approved else None,
        versions=len(versions),
        versions_with_lineage=sum(1 for v in versions if v["datasets"]),
        personal_data_without_basis=unlawful["n"] if unlawful else 0,
        versions_with_environment=sum(1 for v in versions if v["validated_environment"]),
        versions_with_metrics=sum(1 for v in versions if v["validation_metrics"]),
        missing_documentation=tuple(label for name, label in DOCUMENTED_FIELDS if not getattr(model, name).strip()),
        documented_at=model.updated_at,
        fairness_evaluated_at=fairness["at"] if fairness else None,
        fully_automated=model.automation_level == "fully_automated",
        audit_events=audited["n"] if audited else 0,
        audited_at=audited["at"] if audited else None,
        last_evidence_at=evidence_at,
    )


def evidence_links(model: MLModel) -> dict[str, str]:
    """Where each kind of evidence is seen and fixed, for one model."""
    return {
        ev.LINK_CLASSIFICATION: reverse("compliance:classify", kwargs={"slug": model.slug}),
        ev.LINK_ASSESSMENT: reverse("risk:model", kwargs={"slug": model.slug}),
        ev.LINK_REVIEW: model.get_absolute_url() + "#reviews",
        ev.LINK_MONITORING: reverse("monitoring:model", kwargs={"slug": model.slug}),
        ev.LINK_MODEL: model.get_absolute_url(),
        ev.LINK_LINEAGE: reverse("inventory:model-lineage", kwargs={"slug": model.slug}),
        ev.LINK_AUDIT: f"{reverse('core:audit')}?object_type={MLModel._meta.label_lower}&object_id={model.pk}",
        ev.LINK_FINDINGS: f"{reverse('findings:index')}?model={model.slug}",
        ev.LINK_INCIDENTS: f"{reverse('findings:incidents')}?model={model.slug}",
    }


@dataclass
class ModelCompliance:
    model: MLModel
    facts: ev.Facts
    results: list[ev.ControlResult]
    links: dict[str, str]

    @property
    def coverage(self) -> ev.Coverage:
        total = ev.Coverage()
        for result in self.results:
            total.add(result.status, self.model.pk)
        return total

    def by_framework(self) -> dict[str, list[ev.ControlResult]]:
        grouped: dict[str, list[ev.ControlResult]] = {}
        for result in self.results:
            grouped.setdefault(result.control.framework, []).append(result)
        return grouped


def model_compliance(model: MLModel, *, controls: list[ev.ControlSpec] | None = None) -> ModelCompliance:
    return compliance_of([model], controls=controls)[0]


def compliance_of(models: list[MLModel], *, controls: list[ev.ControlSpec] | None = None) -> list[ModelCompliance]:
    """Each model's applicable controls evaluated, in a constant number of queries."""
    controls = controls_in_force() if controls is None else controls
    facts = gather_facts(models)
    return [ModelCompliance(m, facts[m.pk], ev.evaluate(controls, facts[m.pk]), evidence_links(m)) for m in models]


@dataclass
class Portfolio:
    models: list[ModelCompliance]
    by_framework: dict[str, ev.Coverage]
    by_business_unit: dict[str, ev.Coverage]  # by the unit's slug, in the order of its name
    total: ev.Coverage
    framework_names: dict[str, str]
    unit_names: dict[str, str]


def portfolio_compliance(models: list[MLModel]) -> Portfolio:
    """Coverage by framework and by business unit: the per-model views of ``models``, added up."""
    views = compliance_of(models)
    units = {view.model.pk: view.model.team.business_unit for view in views}
    by_framework, by_unit, total = ev.coverage({view.model.pk: view.results for view in views},
                                               group_of=lambda pk: units[pk].slug)
    names = framework_names()
    unit_names = {unit.slug: unit.name for unit in units.values()}
    ordered = {code: by_framework[code] for code in names if code in by_framework}
    by_name = dict(sorted(by_unit.items(), key=lambda item: unit_names[item[0]]))
    return Portfolio(views, ordered, by_name, total, names, unit_names)


def filtered_models(filters: Mapping | None = None) -> ComplianceModelFilter:
    return ComplianceModelFilter(filters or None, queryset=models_for_compliance())


def framework_names() -> dict[str, str]:
    return dict(Framework.objects.values_list("code", "name"))


def documents_of(version: ModelVersion):
    """The documents generated for ``version``, newest first within each kind, with who generated them."""
    return (GeneratedDocument.objects.filter(version=version).select_related("generated_by")
            .prefetch_related("reviews").order_by("kind", "-number"))


def document_detail(pk: int) -> GeneratedDocument:
    return get_object_or_404(GeneratedDocument.objects.select_related("version__model", "generated_by"), pk=pk)


def version_for_documents(*, slug: str, version: str) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("model__team"), model__slug=slug, version=version)


def version_by_id(pk: int) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("model__team"), pk=pk)


def open_reviews_of(version: ModelVersion):
    return Review.objects.filter(version=version, state__in=transitions.OPEN_STATES).order_by("round")


def documents_attached_to(review: Review) -> list[GeneratedDocument]:
    return list(review.generated_documents.select_related("generated_by").order_by("kind", "-number"))
def controls_of_finding(finding) -> list[FindingControl]:
    """The controls a finding concerns, with their framework version (one query)."""
    return list(FindingControl.objects.filter(finding=finding)
                .select_related("control__framework_version__framework", "linked_by"))


def linkable_controls(finding):
    """Controls in force, and those the finding is already linked to, in framework order."""
    return (Control.objects.filter(Q(framework_version__status=FrameworkVersion.Status.PUBLISHED)
                                   | Q(finding_links__finding=finding))
            .select_related("framework_version__framework").distinct()
            .order_by("framework_version__framework__order", "order", "code"))

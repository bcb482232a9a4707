"""Which controls apply to a model and how far its records satisfy each: pure rules, no Django imports.

A control (an obligation of a framework: an EU AI Act article, a NIST AI RMF category, an ISO/IEC 42001 Annex A
control, a section of SR 11-7) names the *evidence kinds* that satisfy it. Each kind is judged from one model's
``Facts``, gathered by ``apps.compliance.facts`` from the stored governance state and the records behind it, into
``satisfied``, ``partial`` or ``missing`` with a dated note, a link key and what would satisfy it. A control is
satisfied when all of its evidence is, missing when none of it is, partial otherwise.

Whether a control applies follows from the model's classification (EU AI Act category, Annex III area, role as
provider or deployer) and its risk tier (an unassessed model counts as critical, as the governance rules treat it).

New evidence kinds (documents, ...) add a judge to ``JUDGES`` and a field to ``Facts``; findings and incidents
did (``findings``: validation findings remediated and closed; ``incidents``: incidents handled, serious ones
reported in time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

SATISFIED, PARTIAL, MISSING = "satisfied", "partial", "missing"
STATUSES = (SATISFIED, PARTIAL, MISSING)
STATUS_LABELS = {SATISFIED: "Satisfied", PARTIAL: "Partial", MISSING: "Missing"}

# The classification questionnaire's answers.
EU_CATEGORIES = {
    "prohibited": "Prohibited practice (Art. 5)",
    "high_risk": "High-risk (Art. 6, Annex I or III)",
    "limited": "Limited risk: transparency duties (Art. 50)",
    "minimal": "Minimal risk",
}
ANNEX_III_AREAS = {
    "none": "Not an Annex III area",
    "annex_i_product": "Safety component of a product under Annex I legislation",
    "biometrics": "Annex III (1): biometrics",
    "critical_infrastructure": "Annex III (2): critical infrastructure",
    "education": "Annex III (3): education and vocational training",
    "employment": "Annex III (4): employment and management of workers",
    "essential_services": "Annex III (5): access to essential private and public services (credit scoring, "
                          "insurance pricing, public benefits)",
    "law_enforcement": "Annex III (6): law enforcement",
    "migration": "Annex III (7): migration, asylum and border control",
    "justice": "Annex III (8): administration of justice and democratic processes",
}
ROLES = {
    "provider": "Provider: we develop it, or have it developed, and put it into service under our name",
    "deployer": "Deployer: we use a system someone else provides, under our authority",
}
TIERS = ("low", "medium", "high", "critical")

# Where the evidence is seen and fixed; the selector turns each into the page's URL.
LINK_CLASSIFICATION, LINK_ASSESSMENT, LINK_REVIEW, LINK_MONITORING, LINK_MODEL, LINK_LINEAGE, LINK_AUDIT = (
    "classification", "assessment", "review", "monitoring", "model", "lineage", "audit")
LINK_FINDINGS, LINK_INCIDENTS = "findings", "incidents"

EVIDENCE_KINDS = {
    "classification": "Classification questionnaire",
    "not_prohibited": "Not a prohibited practice",
    "risk_assessment": "Current risk assessment (four risks rated, rationale)",
    "approval": "Valid approval of the tier's sign-offs",
    "checklists": "Intentionality and accountability checklists answered",
    "monitoring": "Monitoring within the tier's cadence",
    "performance": "Validation metrics, no open breach",
    "lineage": "Training data lineage and legal basis",
    "environment": "Validated environment recorded and matched",
    "documentation": "Purpose, intended use and out-of-scope uses",
    "fairness": "Per-group fairness evaluated",
    "human_oversight": "Accountable person and human oversight",
    "audit_trail": "Changes recorded in the audit trail",
    "findings": "Validation findings remediated and closed",
    "incidents": "Incidents handled; serious ones reported in time",
}


class CatalogueError(ValueError):
    """A control names an evidence kind or an answer the portal does not know."""


@dataclass(frozen=True)
class Applicability:
    """Empty means any. ``tiers`` compares with the model's tier (unassessed counts as critical)."""

    eu_categories: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        known = ((self.eu_categories, EU_CATEGORIES, "EU AI Act category"), (self.roles, ROLES, "role"),
                 (self.tiers, TIERS, "tier"))
        return [f"Unknown {what} {value!r}; use one of {', '.join(choices)}."
                for values, choices, what in known for value in values if value not in choices]


@dataclass(frozen=True)
class ControlSpec:
    pk: int
    framework: str
    version: str
    code: str
    title: str
    reference: str
    evidence: tuple[str, ...]
    applicability: Applicability = Applicability()

    def problems(self) -> list[str]:
        found = [f"Unknown evidence kind {kind!r}; use one of {', '.join(EVIDENCE_KINDS)}."
                 for kind in self.evidence if kind not in EVIDENCE_KINDS]
        if not self.evidence:
            found.append("A control needs at least one evidence kind, or nothing could ever satisfy it.")
        return found + self.applicability.problems()


@dataclass(frozen=True)
class Classification:
    eu_category: str
    annex_iii_area: str
    role: str
    classified_at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    """What the portal holds about one model, as far as the controls ask. Counts are over its live versions."""

    classification: Classification | None = None
    tier: str | None = None  # the stored governance tier; None when never assessed
    reason_codes: frozenset[str] = frozenset()  # the stored governance reasons of the model and its versions
    approval: str = "missing"  # the stored approval rollup (apps.inventory.governance.APPROVALS)
    in_production: bool = False
    state_at: datetime | None = None  # when the stored governance state was computed
    assessed_at: datetime | None = None
    risks_rated: int = 0
    risks_required: int = 4
    assessment_rationale: bool = False
    approved_at: datetime | None = None
    versions: int = 0
    versions_with_lineage: int = 0
    personal_data_without_basis: int = 0
    versions_with_environment: int = 0
    versions_with_metrics: int = 0
    missing_documentation: tuple[str, ...] = ()
    documented_at: datetime | None = None
    fairness_evaluated_at: datetime | None = None  # the newest evaluation that compared groups of a sensitive attribute
    fully_automated: bool = False
    audit_events: int = 0
    audited_at: datetime | None = None
    last_evidence_at: datetime | None = None
    findings_open: int = 0
    findings_overdue: int = 0  # open past their due date
    findings_closed: int = 0
    findings_closed_at: datetime | None = None  # the newest closing
    incidents_open: int = 0
    incidents_closed: int = 0
    incidents_report_overdue: int = 0  # serious, unreported, past the deadline
    incidents_report_due: int = 0  # serious, unreported, deadline not yet passed
    incidents_at: datetime | None = None  # the newest incident's change


@dataclass(frozen=True)
class Evidence:
    kind: str
    status: str
    note: str
    link: str
    at: datetime | date | None = None
    fix: str = ""  # what would satisfy it; empty when satisfied

    @property
    def label(self) -> str:
        return EVIDENCE_KINDS[self.kind]


@dataclass(frozen=True)
class ControlResult:
    control: ControlSpec
    status: str
    evidence: tuple[Evidence, ...]

    @property
    def fixes(self) -> list[str]:
        return [e.fix for e in self.evidence if e.fix]


def _ok(kind, note, link, at=None) -> Evidence:
    return Evidence(kind, SATISFIED, note, link, at)


def _judge_classification(f: Facts) -> Evidence:
    c = f.classification
    if c is None:
        return Evidence("classification", MISSING, "Not classified.", LINK_CLASSIFICATION,
                        fix="Answer the classification questionnaire (EU AI Act category, Annex III area, role).")
    return _ok("classification", f"{EU_CATEGORIES[c.eu_category]}; {ANNEX_III_AREAS[c.annex_iii_area]}; "
               f"{c.role}.", LINK_CLASSIFICATION, c.classified_at)


def _judge_not_prohibited(f: Facts) -> Evidence:
    c = f.classification
    if c is None:
        return Evidence("not_prohibited", MISSING, "Not classified, so not yet shown to be allowed.",
                        LINK_CLASSIFICATION, fix="Answer the classification questionnaire.")
    if c.eu_category == "prohibited":
        return Evidence("not_prohibited", MISSING, "Classified as a prohibited practice.", LINK_CLASSIFICATION,
                        c.classified_at, fix="Stop using it: a prohibited practice cannot be made compliant.")
    return _ok("not_prohibited", "Classified outside the prohibited practices.", LINK_CLASSIFICATION, c.classified_at)


def _judge_risk_assessment(f: Facts) -> Evidence:
    kind, link = "risk_assessment", LINK_ASSESSMENT
    if f.assessed_at is None:
        return Evidence(kind, MISSING, "No risk assessment.", link, fix="Have a reviewer assess the model's risk.")
    gaps = []
    if f.risks_rated < f.risks_required:
        gaps.append(f"only {f.risks_rated} of the {f.risks_required} risks are rated")
    if not f.assessment_rationale:
        gaps.append("the assessor's rationale is empty")
    if "assessment_overdue" in f.reason_codes:
        gaps.append("its re-assessment is overdue")
    if "reassessment_requested" in f.reason_codes:
        gaps.append("a re-assessment is pending")
    if gaps:
        return Evidence(kind, PARTIAL, f"Assessed, but {'; '.join(gaps)}.", link, f.assessed_at,
                        fix="Submit a new risk assessment with all four risks rated and a rationale.")
    return _ok(kind, f"Assessed, tier {f.tier}.", link, f.assessed_at)


def _judge_approval(f: Facts) -> Evidence:
    kind, link = "approval", LINK_REVIEW
    if f.approval == "approved":
        return _ok(kind, "A valid approval with the sign-offs the tier requires.", link, f.approved_at)
    if f.approval in ("insufficient", "suspended"):
        why = "is suspended by a monitoring breach" if f.approval == "suspended" else "is short of the tier's needs"
        return Evidence(kind, PARTIAL, f"The approval {why}.", link, f.approved_at,
                        fix="Complete the review round with the sign-offs the tier requires.")
    why = "Its reviewed content changed since the approval." if f.approval == "void" else "No approval."
    return Evidence(kind, MISSING, why, link, fix="Open a review of the version and have it approved.")


def _judge_checklists(f: Facts) -> Evidence:
    kind, link = "checklists", LINK_REVIEW
    if f.approval in ("approved", "suspended"):
        return _ok(kind, "The tier's checklists are answered in a valid approval.", link, f.approved_at)
    if f.approval == "insufficient":
        return Evidence(kind, PARTIAL, "The approval lacks a checklist or a sign-off the tier now requires.", link,
                        f.approved_at, fix="Answer the missing checklist items in a new review round.")
    return Evidence(kind, MISSING, "No approved checklist answers.", link,
                    fix="Answer the intentionality and accountability checklists in a review.")


def _judge_monitoring(f: Facts) -> Evidence:
    kind, link = "monitoring", LINK_MONITORING
    if not f.in_production:
        return Evidence(kind, PARTIAL, "Nothing runs in production yet, so no monitoring evidence exists.", link,
                        fix="Monitor it on the tier's cadence once a version is in production.")
    if f.reason_codes & {"monitoring_never", "monitoring_overdue"}:
        return Evidence(kind, MISSING, "Monitoring evidence is missing or older than the cadence allows.", link,
                        f.last_evidence_at, fix="Upload a production evaluation within the tier's cadence.")
    if "monitoring_due" in f.reason_codes:
        return Evidence(kind, PARTIAL, "Its first monitoring evidence is due.", link,
                        fix="Upload its first production evaluation.")
    return _ok(kind, "Monitored within the tier's cadence.", link, f.last_evidence_at)


def _judge_performance(f: Facts) -> Evidence:
    kind, link = "performance", LINK_MONITORING
    if f.versions_with_metrics == 0:
        return Evidence(kind, MISSING, "No validation metrics recorded.", LINK_MODEL,
                        fix="Record the validation metrics of each version.")
    gaps = []
    if f.versions_with_metrics < f.versions:
        gaps.append(f"{f.versions - f.versions_with_metrics} of {f.versions} versions lack validation metrics")
    if "alert_breach" in f.reason_codes:
        gaps.append("a breach alert is open")
    if gaps:
        return Evidence(kind, PARTIAL, f"{'; '.join(gaps).capitalize()}.", link, f.last_evidence_at,
                        fix="Record the missing metrics and resolve the open breach.")
    return _ok(kind, "Validation metrics recorded; no open breach.", link, f.last_evidence_at)


def _judge_lineage(f: Facts) -> Evidence:
    kind, link = "lineage", LINK_LINEAGE
    if f.versions_with_lineage == 0:
        return Evidence(kind, MISSING, "No training data recorded.", link,
                        fix="Record the data sets each version was trained on.")
    gaps = []
    if f.versions_with_lineage < f.versions:
        gaps.append(f"{f.versions - f.versions_with_lineage} of {f.versions} versions name no training data")
    if f.personal_data_without_basis:
        gaps.append(f"{f.personal_data_without_basis} personal data set(s) state no legal basis")
    if gaps:
        return Evidence(kind, PARTIAL, f"{'; '.join(gaps).capitalize()}.", link,
                        fix="Record each version's training data and each personal data set's legal basis.")
    return _ok(kind, "Training data recorded for every version, with its legal basis.", link)


def _judge_environment(f: Facts) -> Evidence:
    kind, link = "environment", LINK_MODEL
    if f.versions_with_environment == 0:
        return Evidence(kind, MISSING, "No validated environment recorded.", link,
                        fix="Record the environment each version was validated in.")
    if "environment_mismatch" in f.reason_codes:
        return Evidence(kind, PARTIAL, "A production deployment runs in an environment other than the validated "
                        "one.", link, fix="Redeploy in the validated environment or re-validate.")
    if f.versions_with_environment < f.versions:
        return Evidence(kind, PARTIAL, f"{f.versions - f.versions_with_environment} of {f.versions} versions lack "
                        "a validated environment.", link, fix="Record the environment each version was validated in.")
    return _ok(kind, "Validated environment recorded; production matches it.", link)


def _judge_documentation(f: Facts) -> Evidence:
    kind, link = "documentation", LINK_MODEL
    missing = f.missing_documentation
    if len(missing) >= 3:
        return Evidence(kind, MISSING, "Purpose, intended use and out-of-scope uses are empty.", link,
                        fix="Describe the model's purpose, intended use and out-of-scope uses.")
    if missing:
        return Evidence(kind, PARTIAL, f"Empty: {', '.join(missing)}.", link, f.documented_at,
                        fix=f"Fill in {', '.join(missing)} on the model.")
    return _ok(kind, "Purpose, intended use and out-of-scope uses described.", link, f.documented_at)


def _judge_fairness(f: Facts) -> Evidence:
    if f.fairness_evaluated_at is None:
        return Evidence("fairness", MISSING, "No evaluation has compared the groups of a sensitive attribute.",
                        LINK_MONITORING, fix="Upload an evaluation that names the sensitive attributes, so "
                        "performance and fairness are measured per group.")
    return _ok("fairness", "Performance and fairness measured per group of a sensitive attribute.", LINK_MONITORING,
               f.fairness_evaluated_at)


def _judge_human_oversight(f: Facts) -> Evidence:
    kind, link = "human_oversight", LINK_MODEL
    if "owner_inactive" in f.reason_codes:
        return Evidence(kind, MISSING, "The accountable owner no longer has an active account.", link,
                        fix="Name an active accountable owner.")
    if f.fully_automated:
        return Evidence(kind, PARTIAL, "A named person is accountable, but its decisions are fully automated.",
                        link, fix="Have a person review its decisions, or record how they can intervene.")
    return _ok(kind, "A named, active person is accountable; a person decides or reviews.", link)


def _judge_audit_trail(f: Facts) -> Evidence:
    if f.audit_events == 0:
        return Evidence("audit_trail", MISSING, "No change to the model is in the audit trail.", LINK_AUDIT,
                        fix="Change the model through the portal, which records each change.")
    return _ok("audit_trail", f"{f.audit_events} recorded change{'s' * (f.audit_events != 1)}.", LINK_AUDIT,
               f.audited_at)


def _judge_findings(f: Facts) -> Evidence:
    kind, link = "findings", LINK_FINDINGS
    if f.findings_overdue:
        return Evidence(kind, MISSING, f"{f.findings_overdue} open finding{'s' * (f.findings_overdue != 1)} past "
                        "its due date.", link, f.findings_closed_at,
                        fix="Remediate the overdue findings and have a reviewer close them.")
    if f.findings_open:
        return Evidence(kind, PARTIAL, f"{f.findings_open} finding{'s' * (f.findings_open != 1)} being remediated "
                        "(within its due date).", link, f.findings_closed_at,
                        fix="Finish the remediation and have a reviewer other than the owner close each finding.")
    if f.findings_closed:
        return _ok(kind, f"All {f.findings_closed} finding{'s' * (f.findings_closed != 1)} closed after "
                   "remediation.", link, f.findings_closed_at)
    return _ok(kind, "No validation finding was raised.", link)


def _judge_incidents(f: Facts) -> Evidence:
    kind, link = "incidents", LINK_INCIDENTS
    if f.incidents_report_overdue:
        return Evidence(kind, MISSING, f"{f.incidents_report_overdue} serious incident report"
                        f"{'s' * (f.incidents_report_overdue != 1)} to the authority overdue.", link, f.incidents_at,
                        fix="Report the serious incident to the market surveillance authority and record the report.")
    if f.incidents_open:
        due = f"; {f.incidents_report_due} serious-incident report(s) due" if f.incidents_report_due else ""
        return Evidence(kind, PARTIAL, f"{f.incidents_open} incident{'s' * (f.incidents_open != 1)} open{due}.",
                        link, f.incidents_at, fix="Establish the root cause and corrective actions, report a "
                        "serious incident in time, and close the incident.")
    if f.incidents_closed:
        return _ok(kind, f"{f.incidents_closed} incident{'s' * (f.incidents_closed != 1)} handled and closed.", link,
                   f.incidents_at)
    return _ok(kind, "No incident recorded.", link)


JUDGES: dict[str, Callable[[Facts], Evidence]] = {
    "classification": _judge_classification,
    "not_prohibited": _judge_not_prohibited,
    "risk_assessment": _judge_risk_assessment,
    "approval": _judge_approval,
    "checklists": _judge_checklists,
    "monitoring": _judge_monitoring,
    "performance": _judge_performance,
    "lineage": _judge_lineage,
    "environment": _judge_environment,
    "documentation": _judge_documentation,
    "fairness": _judge_fairness,
    "human_oversight": _judge_human_oversight,
    "audit_trail": _judge_audit_trail,
    "findings": _judge_findings,
    "incidents": _judge_incidents,
}
assert set(JUDGES) == set(EVIDENCE_KINDS), "every evidence kind needs a judge"


def applies(control: ControlSpec, facts: Facts) -> bool:
    """An EU AI Act control with conditions needs a classification that meets them; tiers need the tier."""
    rule = control.applicability
    c = facts.classification
    if rule.eu_categories and (c is None or c.eu_category not in rule.eu_categories):
        return False
    if rule.roles and (c is None or c.role not in rule.roles):
        return False
    return not rule.tiers or (facts.tier or "critical") in rule.tiers


def rollup(statuses: Iterable[str]) -> str:
    found = set(statuses)
    if found <= {SATISFIED}:
        return SATISFIED
    return MISSING if found == {MISSING} else PARTIAL


def evaluate(controls: Iterable[ControlSpec], facts: Facts) -> list[ControlResult]:
    """Each applicable control with its status and evidence, in the order given. Judges each kind once."""
    judged: dict[str, Evidence] = {}
    results = []
    for control in controls:
        if not applies(control, facts):
            continue
        evidence = tuple(judged.setdefault(kind, JUDGES[kind](facts)) for kind in control.evidence)
        results.append(ControlResult(control, rollup(e.status for e in evidence), evidence))
    return results


@dataclass
class Coverage:
    """Counts of (model, control) pairs by status: one framework's, one business unit's, or a model's."""

    satisfied: int = 0
    partial: int = 0
    missing: int = 0
    models: set = field(default_factory=set)

    @property
    def applicable(self) -> int:
        return self.satisfied + self.partial + self.missing

    @property
    def percent(self) -> int | None:
        """The satisfied share, rounded down (a partial control is not a satisfied one)."""
        return self.satisfied * 100 // self.applicable if self.applicable else None

    def add(self, status: str, model_key=None) -> None:
        setattr(self, status, getattr(self, status) + 1)
        if model_key is not None:
            self.models.add(model_key)

    def as_dict(self) -> dict:
        return {"models": len(self.models), "applicable": self.applicable, "satisfied": self.satisfied,
                "partial": self.partial, "missing": self.missing, "percent": self.percent}


def coverage(results_by_model: dict, *, group_of: Callable[[object], str]) -> tuple[dict, dict, Coverage]:
    """Coverage by framework and by group (``group_of(model_key)``, e.g. its business unit), and in total:
    the sums of the per-model results, nothing else."""
    by_framework: dict[str, Coverage] = {}
    by_group: dict[str, Coverage] = {}
    total = Coverage()
    for key, results in results_by_model.items():
        group = group_of(key)
        for result in results:
            for bucket in (by_framework.setdefault(result.control.framework, Coverage()),
                           by_group.setdefault(group, Coverage()), total):
                bucket.add(result.status, key)
    return by_framework, by_group, total

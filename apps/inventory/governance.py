"""A model version's governance state from its facts: pure rules, no Django imports.

The portal keeps one stored truth of every model's and version's governance state
(``ModelGovernance`` / ``VersionGovernance``); ``apps.governance`` gathers the facts from
the domain apps and stores what ``version_state`` and ``model_state`` return here. Every page,
the production gate and the API read the stored result; none re-derives it.

States, from best to worst (a rollup takes the worst):

- ``compliant``: nothing is missing for the stage the version is in (a version in development without an
  approval is compliant: the approval is owed before production, and its reason says so and holds the gate);
- ``attention``: something needs doing soon (a re-assessment falling due, first monitoring results due, an
  environment that differs from the validated one, a breach accepted as a risk for a while);
- ``non_compliant``: what runs in production lacks what its tier's policy requires
  (a valid approval, a current risk assessment, monitoring within the cadence, an active owner);
- ``suspended``: monitoring found a breach on a tier whose policy suspends the approval; the gate
  refuses promotions until a reviewer re-approves or records a risk acceptance.

Each reason has a stable ``code`` (for filters, the API and tests), a sentence a business reader
understands, a ``fix`` saying which page fixes it (the storing service turns it into a link), and
``blocks_gate`` when the production gate refuses on it.

Health is a separate dimension of the same facts: ``healthy`` only with monitoring evidence within
the cadence and no open alert; ``no_evidence`` when never evaluated or the evidence lapsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

COMPLIANT, ATTENTION, NON_COMPLIANT, SUSPENDED = "compliant", "attention", "non_compliant", "suspended"
STATUSES = (COMPLIANT, ATTENTION, NON_COMPLIANT, SUSPENDED)
STATUS_LABELS = {COMPLIANT: "Compliant", ATTENTION: "Needs attention", NON_COMPLIANT: "Non-compliant",
                 SUSPENDED: "Suspended"}

HEALTHY, WARNING, BREACH, NO_EVIDENCE, NOT_MONITORED = "healthy", "warning", "breach", "no_evidence", "not_monitored"
HEALTHS = (HEALTHY, WARNING, BREACH, NO_EVIDENCE, NOT_MONITORED)
HEALTH_LABELS = {HEALTHY: "Healthy", WARNING: "Warning", BREACH: "Breach", NO_EVIDENCE: "No evidence",
                 NOT_MONITORED: "Not in production"}

APPROVED, APPROVAL_SUSPENDED, INSUFFICIENT, VOID, MISSING = "approved", "suspended", "insufficient", "void", "missing"
APPROVALS = (APPROVED, APPROVAL_SUSPENDED, INSUFFICIENT, VOID, MISSING)
APPROVAL_LABELS = {APPROVED: "Approved", APPROVAL_SUSPENDED: "Suspended", INSUFFICIENT: "Short of what the tier needs",
                   VOID: "Void (content changed)", MISSING: "Not approved"}

CADENCE_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}
# Evidence may arrive a little late before it counts as lapsed: a daily job that ran at 01:10 instead of 00:50.
CADENCE_GRACE = {"daily": timedelta(hours=12), "weekly": timedelta(days=1), "monthly": timedelta(days=3)}

# Where a reason is fixed; the storing service maps each to the page's URL.
FIX_ASSESSMENT, FIX_REVIEW, FIX_MONITORING, FIX_DEPLOYMENTS, FIX_MODEL, FIX_ACCEPTANCE = (
    "assessment", "review", "monitoring", "deployments", "model", "acceptance")
# A finding's or an incident's own page: the reason's ``ref`` names which.
FIX_FINDING, FIX_INCIDENT = "finding", "incident"

# Every reason code, with its plain meaning (the API documents these; tests check each can arise).
REASON_CODES = {
    "not_assessed": "No risk assessment",
    "reassessment_requested": "Risk re-assessment requested",
    "assessment_overdue": "Risk re-assessment overdue",
    "assessment_due_soon": "Risk re-assessment due soon",
    "approval_missing": "No approval",
    "approval_void": "Approval void: reviewed content changed",
    "approval_insufficient": "Approval short of what the current tier requires",
    "approval_suspended": "Approval suspended by a monitoring breach",
    "risk_accepted": "Breach accepted as a risk",
    "monitoring_never": "Never evaluated in production",
    "monitoring_overdue": "Monitoring overdue",
    "monitoring_due": "First monitoring evidence due",
    "alert_breach": "Open breach alert",
    "alert_warning": "Open warning alert",
    "environment_mismatch": "Runs in an environment other than the validated one",
    "owner_inactive": "Accountable owner inactive",
    "gate_overridden": "In production by a gate override",
    "shadow_promotion": "Marked as production in MLflow without approval",
    "finding_blocking": "Open validation finding as severe as the tier's policy blocks on",
    "finding_overdue": "Validation finding past its due date",
    "incident_open": "Open incident",
    "incident_report_overdue": "Serious-incident report to the authority overdue",
}
# Ranks of a finding's severity (apps.findings.rules.SEVERITIES), least severe first.
FINDING_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

ORDER = {status: rank for rank, status in enumerate(STATUSES)}
DUE_SOON = timedelta(days=14)


@dataclass(frozen=True)
class Reason:
    code: str
    level: str
    message: str
    fix: str
    blocks_gate: bool = False
    version: str = ""  # on a model's reasons: the version it concerns
    ref: int | None = None  # the finding or incident a FIX_FINDING / FIX_INCIDENT reason links to

    def as_dict(self) -> dict:
        found = {"code": self.code, "level": self.level, "message": self.message, "fix": self.fix,
                 "blocks_gate": self.blocks_gate, "version": self.version}
        return found if self.ref is None else {**found, "ref": self.ref}


@dataclass(frozen=True)
class Policy:
    """What the model's current tier demands (``None`` tier: never assessed, treated as critical)."""

    tier: str | None
    required_approvals: int
    checklists: tuple[str, ...] = ()
    monitoring_cadence: str = "monthly"
    suspend_on_breach: bool = False
    finding_blocks_from: str = "critical"  # the least severe open finding that holds the gate


@dataclass(frozen=True)
class OpenFinding:
    ref: int
    title: str
    severity: str
    due: date


@dataclass(frozen=True)
class OpenIncident:
    ref: int
    title: str
    aware_on: date
    report_deadline: date | None = None  # a serious incident's; None when no report is owed
    reported: bool = False


@dataclass(frozen=True)
class Approval:
    """The newest approved review round of the version, judged against the current policy."""

    content_matches: bool
    approvals: int
    required: int
    missing_checklists: tuple[str, ...] = ()
    decided_at: datetime | None = None
    discounted: tuple[str, ...] = ()  # approvals that do not count (four-eyes), one sentence each


@dataclass(frozen=True)
class ModelFacts:
    name: str
    assessed: bool
    reassessment_due: date | None = None
    reassessment_requested: tuple[str, ...] = ()  # why, one sentence each
    owner_active: bool = True
    owner_name: str = ""
    open_incidents: tuple[OpenIncident, ...] = ()


@dataclass(frozen=True)
class VersionFacts:
    label: str
    stage: str
    policy: Policy
    approval: Approval | None = None
    in_production_since: datetime | None = None
    last_evidence_at: datetime | None = None  # the newest production evaluation or window computed
    open_breaches: int = 0
    open_warnings: int = 0
    last_breach_at: datetime | None = None  # the newest alert that became a breach, open or not
    acceptance_until: date | None = None  # an unexpired risk acceptance recorded after that breach
    acceptance_by: str = ""
    environment_mismatch: bool = False
    overridden: bool = False  # entered production through a gate override
    # What an external registry (MLflow) says puts it in production there, e.g. "alias champion on MLflow prod":
    # running it there without a valid approval here is a shadow promotion.
    shadow_marks: tuple[str, ...] = ()
    open_findings: tuple[OpenFinding, ...] = ()


@dataclass(frozen=True)
class State:
    status: str
    health: str
    approval: str
    reasons: tuple[Reason, ...] = ()
    # When time alone would change this state (a cadence lapses, an assessment or acceptance falls due).
    recheck_at: datetime | None = None

    @property
    def gate_open(self) -> bool:
        return not any(r.blocks_gate for r in self.reasons)

    def blockers(self) -> list[str]:
        return [r.message for r in self.reasons if r.blocks_gate]


def worst(statuses) -> str:
    return max(statuses, key=ORDER.__getitem__, default=COMPLIANT)


def _at_midnight_after(day: date, now: datetime) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def model_reasons(facts: ModelFacts, *, in_production: bool, now: datetime) -> tuple[list[Reason], datetime | None]:
    """Reasons that belong to the model as a whole: its risk assessment and its owner."""
    live = NON_COMPLIANT if in_production else ATTENTION
    today = now.date()
    reasons: list[Reason] = []
    recheck = None
    if not facts.assessed:
        reasons.append(Reason("not_assessed", live, "It needs a risk assessment. Until it has one it is treated as "
                              "critical.", FIX_ASSESSMENT, blocks_gate=True))
    for why in facts.reassessment_requested:
        reasons.append(Reason("reassessment_requested", live, f"Risk re-assessment pending: {why} It cannot go to "
                              "production until a reviewer re-assesses the model.", FIX_ASSESSMENT, blocks_gate=True))
    due = facts.reassessment_due
    if facts.assessed and due is not None:
        if due < today:
            reasons.append(Reason("assessment_overdue", live, f"Its risk re-assessment was due on {due:%d %b %Y}.",
                                  FIX_ASSESSMENT, blocks_gate=True))
        else:
            if due - today <= DUE_SOON:
                reasons.append(Reason("assessment_due_soon", ATTENTION,
                                      f"Its risk re-assessment is due on {due:%d %b %Y}.", FIX_ASSESSMENT))
                recheck = _at_midnight_after(due, now)
            else:
                recheck = _at_midnight_after(due - DUE_SOON, now)
    if not facts.owner_active:
        owner = facts.owner_name or "Its accountable owner"
        reasons.append(Reason("owner_inactive", live, f"{owner}, the accountable owner, no longer has an active "
                              "account; name a new owner.", FIX_MODEL, blocks_gate=True))
    incident_reasons, incident_recheck = _incidents(facts.open_incidents, now)
    rechecks = [t for t in (recheck, incident_recheck) if t is not None]
    return reasons + incident_reasons, min(rechecks) if rechecks else None


def _incidents(incidents, now: datetime) -> tuple[list[Reason], datetime | None]:
    """An open incident needs attention; a serious one whose report to the authority is late is non-compliant
    (EU AI Act Art. 73), whatever stage the model is in."""
    reasons, recheck, today = [], None, now.date()
    for incident in incidents:
        deadline = incident.report_deadline
        if deadline is not None and not incident.reported and deadline < today:
            reasons.append(Reason("incident_report_overdue", NON_COMPLIANT, f"The serious incident “{incident.title}” "
                                  f"had to be reported to the authority by {deadline:%d %b %Y}.", FIX_INCIDENT,
                                  ref=incident.ref))
            continue
        owed = ""
        if deadline is not None and not incident.reported:
            owed = f" It is serious: report it to the authority by {deadline:%d %b %Y}."
            at = _at_midnight_after(deadline, now)
            recheck = at if recheck is None else min(recheck, at)
        reasons.append(Reason("incident_open", ATTENTION, f"An incident is open since {incident.aware_on:%d %b %Y}: "
                              f"“{incident.title}”.{owed}", FIX_INCIDENT, ref=incident.ref))
    return reasons, recheck


def _findings(facts: VersionFacts, live: str, now: datetime) -> tuple[list[Reason], datetime | None]:
    """An open finding as severe as the tier's policy names holds the gate (and makes what runs non-compliant);
    a less severe one only needs attention once past its due date."""
    reasons, recheck, today = [], None, now.date()
    threshold = facts.policy.finding_blocks_from
    tier = facts.policy.tier or "not assessed, treated as critical"
    for finding in facts.open_findings:
        if FINDING_RANK[finding.severity] >= FINDING_RANK.get(threshold, 3):
            reasons.append(Reason("finding_blocking", live, f"The {finding.severity} validation finding "
                                  f"“{finding.title}” is open (due {finding.due:%d %b %Y}); its tier ({tier}) holds "
                                  f"production while a {threshold} or worse finding is open.", FIX_FINDING,
                                  blocks_gate=True, ref=finding.ref))
        elif finding.due < today:
            reasons.append(Reason("finding_overdue", ATTENTION, f"The {finding.severity} validation finding "
                                  f"“{finding.title}” was due on {finding.due:%d %b %Y}.", FIX_FINDING,
                                  ref=finding.ref))
        else:
            at = _at_midnight_after(finding.due, now)
            recheck = at if recheck is None else min(recheck, at)
    return reasons, recheck


def _approval(facts: VersionFacts, live: str) -> tuple[str, list[Reason]]:
    a, policy = facts.approval, facts.policy
    if a is None:
        return MISSING, [Reason("approval_missing", live, "It needs a valid responsible-AI approval (a review approved "
                                "by enough distinct reviewers).", FIX_REVIEW, blocks_gate=True)]
    if not a.content_matches:
        return VOID, [Reason("approval_void", live, "What the reviewers approved has changed since (its training data "
                             "or attested fields), so the approval no longer holds; it needs a new review.",
                             FIX_REVIEW, blocks_gate=True)]
    reasons = []
    tier = policy.tier or "not assessed, treated as critical"
    if a.approvals < a.required:
        # Say why approvals that were given do not count (four-eyes), before how many are missing.
        reasons += [Reason("approval_insufficient", live, why, FIX_REVIEW, blocks_gate=True) for why in a.discounted]
        more = a.required - a.approvals
        reasons.append(Reason("approval_insufficient", live,
                              f"It has {a.approvals} of the {_plural(a.required, 'approval')} its current tier "
                              f"({tier}) requires; ask {_plural(more, 'more reviewer')}.", FIX_REVIEW,
                              blocks_gate=True))
    if a.missing_checklists:
        reasons.append(Reason("approval_insufficient", live,
                              f"Its current tier ({tier}) demands the {', '.join(a.missing_checklists)} checklist"
                              f"{'s' * (len(a.missing_checklists) != 1)}, which this round did not answer; a new "
                              "review round must.", FIX_REVIEW, blocks_gate=True))
    return (INSUFFICIENT, reasons) if reasons else (APPROVED, [])


def _suspension(facts: VersionFacts, approval: str, now: datetime) -> tuple[str, list[Reason], datetime | None]:
    """A breach after the approval suspends it, on tiers whose policy says so, until re-approval or acceptance."""
    breach_at = facts.last_breach_at
    if not (facts.policy.suspend_on_breach and breach_at and approval == APPROVED):
        return approval, [], None
    if facts.approval.decided_at and facts.approval.decided_at >= breach_at:
        return approval, [], None  # re-approved with the breach known
    until = facts.acceptance_until
    if until is not None and until >= now.date():
        by = f" by {facts.acceptance_by}" if facts.acceptance_by else ""
        return approval, [Reason("risk_accepted", ATTENTION, f"A monitoring breach was accepted as a risk{by} until "
                                 f"{until:%d %b %Y}.", FIX_ACCEPTANCE)], _at_midnight_after(until, now)
    return APPROVAL_SUSPENDED, [Reason(
        "approval_suspended", SUSPENDED,
        f"Monitoring found a breach on {breach_at:%d %b %Y}; its tier ({facts.policy.tier or 'critical'}) suspends the "
        "approval until a reviewer re-approves the version or records a risk acceptance.", FIX_ACCEPTANCE,
        blocks_gate=True)], None


def _monitoring(facts: VersionFacts, now: datetime) -> tuple[str, list[Reason], datetime | None]:
    if facts.stage != "production":
        return NOT_MONITORED, [], None
    cadence = facts.policy.monitoring_cadence
    allowed = timedelta(days=CADENCE_DAYS.get(cadence, 31)) + CADENCE_GRACE.get(cadence, timedelta(days=3))
    reasons: list[Reason] = []
    if facts.open_breaches:
        reasons.append(Reason("alert_breach", NON_COMPLIANT, "Monitoring shows "
                              f"{_plural(facts.open_breaches, 'metric')} beyond the limits its tier sets.",
                              FIX_MONITORING))
    elif facts.open_warnings:
        reasons.append(Reason("alert_warning", ATTENTION, f"Monitoring shows {_plural(facts.open_warnings, 'metric')} "
                              "close to the limits its tier sets.", FIX_MONITORING))
    evidence = facts.last_evidence_at
    since = facts.in_production_since
    if evidence is not None and now - evidence <= allowed:
        health = BREACH if facts.open_breaches else WARNING if facts.open_warnings else HEALTHY
        return health, reasons, evidence + allowed
    start = evidence or since
    if start is not None and now - start <= allowed:
        # Newly in production: the first evidence is due, not late.
        reasons.append(Reason("monitoring_due", ATTENTION, f"Its first {cadence} monitoring results are due by "
                              f"{start + allowed:%d %b %Y}.", FIX_MONITORING))
        return (BREACH if facts.open_breaches else WARNING if facts.open_warnings else NO_EVIDENCE), reasons, \
            start + allowed
    if evidence is None:
        reasons.append(Reason("monitoring_never", NON_COMPLIANT, f"It runs in production but has never been evaluated "
                              f"on production data; its tier asks for {cadence} monitoring.", FIX_MONITORING))
    else:
        reasons.append(Reason("monitoring_overdue", NON_COMPLIANT, f"Its last monitoring results are from "
                              f"{evidence:%d %b %Y}; its tier asks for {cadence} monitoring.", FIX_MONITORING))
    return (BREACH if facts.open_breaches else WARNING if facts.open_warnings else NO_EVIDENCE), reasons, None


def version_state(version: VersionFacts, model: ModelFacts, *, now: datetime) -> State:
    """The governance state of one version: the worst level among its reasons and its model's."""
    in_production = version.stage == "production"
    if version.stage == "retired":
        return State(COMPLIANT, NOT_MONITORED, MISSING if version.approval is None else APPROVED)
    # An approval is owed by what runs; before production its absence only holds the gate (``blocks_gate``),
    # it is nothing to attend to yet.
    reasons, recheck = model_reasons(model, in_production=in_production, now=now)
    approval, approval_reasons = _approval(version, NON_COMPLIANT if in_production else COMPLIANT)
    approval, suspension, acceptance_recheck = _suspension(version, approval, now)
    health, monitoring, monitoring_recheck = _monitoring(version, now)
    findings, findings_recheck = _findings(version, NON_COMPLIANT if in_production else ATTENTION, now)
    reasons += approval_reasons + suspension + monitoring + findings
    if version.environment_mismatch:
        reasons.append(Reason("environment_mismatch", ATTENTION, "It runs in an environment other than the one it was "
                              "validated in (library versions differ).", FIX_DEPLOYMENTS))
    if version.overridden and in_production:
        reasons.append(Reason("gate_overridden", ATTENTION, "An admin let it into production without what the gate "
                              "demanded.", FIX_REVIEW))
    if version.shadow_marks and approval != APPROVED:
        reasons.append(Reason("shadow_promotion", NON_COMPLIANT, f"MLflow marks it as production "
                              f"({'; '.join(version.shadow_marks)}) but it has no valid approval here; approve it "
                              "or move the alias away from it.", FIX_REVIEW))
    rechecks = [t for t in (recheck, acceptance_recheck, monitoring_recheck, findings_recheck) if t is not None]
    return State(status=worst(r.level for r in reasons), health=health, approval=approval, reasons=tuple(reasons),
                 recheck_at=min(rechecks) if rechecks else None)


SHADOW_PROMOTION = "shadow_promotion"
MODEL_CODES = frozenset({"not_assessed", "reassessment_requested", "assessment_overdue", "assessment_due_soon",
                         "owner_inactive", "incident_open", "incident_report_overdue"})
STAGE_RANK = {"production": 0, "staging": 1, "validation": 2, "development": 3}


def model_state(model: ModelFacts, versions: list[tuple[str, str, State]], *, now: datetime) -> State:
    """A model's state from its live versions, given as ``(label, stage, state)``.

    What runs decides: the versions in production, or when none is, the most advanced live one (the candidate).
    A version in development beside a sound production version does not make the model need attention; its own
    page says what it needs. Version reasons are prefixed with the version; the model's own reasons appear once.
    """
    live = sorted((v for v in versions if v[1] in STAGE_RANK), key=lambda v: STAGE_RANK[v[1]])
    in_production = [v for v in live if v[1] == "production"]
    shadowed = [v for v in live if any(r.code == SHADOW_PROMOTION for r in v[2].reasons)]
    live = in_production or live[:1]
    # A version promoted in MLflow behind the portal's back runs whatever the portal's stages say.
    live += [v for v in shadowed if v not in live]
    if not live:
        reasons, recheck = model_reasons(model, in_production=False, now=now)
        return State(worst(r.level for r in reasons), NOT_MONITORED, MISSING, tuple(reasons), recheck)
    seen, reasons = set(), []
    for label, _stage, state in live:
        for reason in state.reasons:
            if reason.code not in MODEL_CODES:
                reason = Reason(reason.code, reason.level, f"Version {label}: {reason.message[:1].lower()}"
                                f"{reason.message[1:]}", reason.fix, reason.blocks_gate, version=label,
                                ref=reason.ref)
            if (reason.code, reason.message) not in seen:
                seen.add((reason.code, reason.message))
                reasons.append(reason)
    states = [state for _label, _stage, state in live]
    healths = [s.health for s in states]
    health = next((h for h in (BREACH, WARNING, NO_EVIDENCE, HEALTHY) if h in healths), NOT_MONITORED)
    approvals = [s.approval for s in states]
    approval = next((a for a in (APPROVAL_SUSPENDED, VOID, INSUFFICIENT, MISSING) if a in approvals), APPROVED)
    rechecks = [s.recheck_at for s in states if s.recheck_at is not None]
    return State(worst(s.status for s in states), health, approval, tuple(reasons),
                 min(rechecks) if rechecks else None)


@dataclass
class Rollup:
    """Counts of states over many models (a business process, a unit, the portfolio) and the worst."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        return worst(s for s, n in self.counts.items() if n)


def rollup(statuses) -> Rollup:
    result = Rollup()
    for status in statuses:
        result.counts[status] += 1
    return result

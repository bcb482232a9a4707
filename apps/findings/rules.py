"""Findings and incidents: the pure rules (no Django imports).

- A finding's severity is ranked low < medium < high < critical; the governance policy of the model's tier names
  the least severe open finding that holds the production gate (``blocks``).
- A finding moves open -> remediating -> closed (or back to open from remediating, when the fix did not hold).
  Closing needs a closing note and someone other than the finding's owner: the person who remediated does not
  certify their own fix (SR 11-7's "effective challenge": validation stays independent from development).
- An incident is *serious* in the EU AI Act's sense (Art. 3(49), reported under Art. 73) when it led, or might have
  led, to a death or serious harm to health, a serious and irreversible disruption of critical infrastructure,
  an infringement of fundamental-rights obligations, or serious harm to property or the environment. The report
  is due, counted from the day the provider became aware of it, generally within 15 days; within 10 days where a
  person died; within 2 days for a widespread infringement or a serious disruption of critical infrastructure.
  (Our summary, not the Regulation's text.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_LABELS = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}

OPEN, REMEDIATING, CLOSED = "open", "remediating", "closed"
FINDING_STATUSES = {OPEN: "Open", REMEDIATING: "Remediating", CLOSED: "Closed"}
FINDING_MOVES = {OPEN: (REMEDIATING, CLOSED), REMEDIATING: (OPEN, CLOSED), CLOSED: ()}

INCIDENT_OPEN, INCIDENT_CONTAINED, INCIDENT_CLOSED = "open", "contained", "closed"
INCIDENT_STATUSES = {INCIDENT_OPEN: "Open", INCIDENT_CONTAINED: "Contained (harm stopped, investigation goes on)",
                     INCIDENT_CLOSED: "Closed"}

# Why an incident is serious, and the reporting deadline in days from becoming aware of it.
NOT_SERIOUS, SERIOUS_GENERAL, SERIOUS_DEATH, SERIOUS_WIDESPREAD = "", "general", "death", "widespread"
SERIOUS_KINDS = {
    NOT_SERIOUS: "Not a serious incident",
    SERIOUS_GENERAL: "Serious incident: serious harm to health, property, the environment or fundamental rights "
                     "(report within 15 days)",
    SERIOUS_DEATH: "Serious incident: a person died (report within 10 days)",
    SERIOUS_WIDESPREAD: "Serious incident: widespread infringement, or serious disruption of critical "
                        "infrastructure (report within 2 days)",
}
REPORT_DAYS = {SERIOUS_GENERAL: 15, SERIOUS_DEATH: 10, SERIOUS_WIDESPREAD: 2}

MIN_NOTE = 20  # characters of a closing note: enough to say what was done and how it was checked


def blocks(severity: str, threshold: str) -> bool:
    """Does an open finding of ``severity`` hold the gate of a tier whose policy blocks from ``threshold``?"""
    return RANK[severity] >= RANK[threshold]


def report_deadline(serious_kind: str, aware_at: datetime | date | None) -> date | None:
    """The last day the serious-incident report may reach the authority, or None when none is owed."""
    if serious_kind not in REPORT_DAYS or aware_at is None:
        return None
    day = aware_at.date() if isinstance(aware_at, datetime) else aware_at
    return day + timedelta(days=REPORT_DAYS[serious_kind])


REPORT_NONE, REPORT_DONE, REPORT_DUE, REPORT_OVERDUE = "not_required", "reported", "due", "overdue"
REPORT_LABELS = {REPORT_NONE: "No report owed", REPORT_DONE: "Reported", REPORT_DUE: "Report due",
                 REPORT_OVERDUE: "Report overdue"}


def report_state(serious_kind: str, aware_at, reported_at, today: date) -> str:
    """Where the authority's report stands: owed and not late, late, made, or never owed."""
    deadline = report_deadline(serious_kind, aware_at)
    if deadline is None:
        return REPORT_NONE
    if reported_at is not None:
        return REPORT_DONE
    return REPORT_OVERDUE if today > deadline else REPORT_DUE


def finding_move_problem(current: str, target: str) -> str:
    """Why a finding cannot move from ``current`` to ``target``; empty when it can."""
    if target not in FINDING_STATUSES:
        return f"Unknown status {target!r}; use one of {', '.join(FINDING_STATUSES)}."
    if target == current:
        return f"The finding is already {FINDING_STATUSES[current].lower()}."
    if target not in FINDING_MOVES[current]:
        return (f"A {FINDING_STATUSES[current].lower()} finding cannot become {FINDING_STATUSES[target].lower()}; "
                "raise a new finding if the problem came back.")
    return ""

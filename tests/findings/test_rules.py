"""The pure rules of findings and incidents, and how they enter the governance state (no database)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from apps.findings import rules
from apps.inventory import governance as g

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HIGH = g.Policy(tier="high", required_approvals=1, finding_blocks_from="high")
LOW = g.Policy(tier="low", required_approvals=1, finding_blocks_from="critical")
MODEL = g.ModelFacts(name="Credit scoring", assessed=True, reassessment_due=date(2027, 6, 1))
APPROVED = g.Approval(content_matches=True, approvals=1, required=1, decided_at=NOW - timedelta(days=3))


def version(stage="staging", policy=HIGH, findings=()) -> g.VersionFacts:
    return g.VersionFacts(label="2.0", stage=stage, policy=policy, approval=APPROVED, open_findings=findings,
                          in_production_since=NOW - timedelta(days=2) if stage == "production" else None,
                          last_evidence_at=NOW - timedelta(hours=2) if stage == "production" else None)


def finding(severity, due=date(2027, 1, 15), ref=7):
    return g.OpenFinding(ref=ref, title="Calibration drifts for applicants over 70", severity=severity, due=due)


def test_the_reporting_deadline_follows_the_kind_of_serious_incident():
    aware = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert rules.report_deadline(rules.SERIOUS_GENERAL, aware) == date(2026, 12, 16)
    assert rules.report_deadline(rules.SERIOUS_DEATH, aware) == date(2026, 12, 11)
    assert rules.report_deadline(rules.SERIOUS_WIDESPREAD, aware) == date(2026, 12, 3)
    assert rules.report_deadline(rules.NOT_SERIOUS, aware) is None


def test_a_report_is_due_until_its_deadline_then_overdue_until_made():
    aware = date(2026, 12, 1)
    assert rules.report_state(rules.SERIOUS_WIDESPREAD, aware, None, date(2026, 12, 3)) == rules.REPORT_DUE
    assert rules.report_state(rules.SERIOUS_WIDESPREAD, aware, None, date(2026, 12, 4)) == rules.REPORT_OVERDUE
    assert rules.report_state(rules.SERIOUS_WIDESPREAD, aware, NOW, date(2026, 12, 9)) == rules.REPORT_DONE
    assert rules.report_state(rules.NOT_SERIOUS, aware, None, date(2027, 1, 1)) == rules.REPORT_NONE


def test_a_closed_finding_cannot_be_reopened():
    assert rules.finding_move_problem(rules.OPEN, rules.REMEDIATING) == ""
    assert rules.finding_move_problem(rules.REMEDIATING, rules.OPEN) == ""
    assert "cannot become open" in rules.finding_move_problem(rules.CLOSED, rules.OPEN)
    assert "already" in rules.finding_move_problem(rules.OPEN, rules.OPEN)


def test_a_high_finding_holds_the_gate_of_a_high_tier_but_not_of_a_low_one():
    high = g.version_state(version(findings=(finding("high"),)), MODEL, now=NOW)
    assert not high.gate_open
    (reason,) = high.reasons
    assert (reason.code, reason.level, reason.fix, reason.ref) == ("finding_blocking", g.ATTENTION, g.FIX_FINDING, 7)
    assert "Calibration drifts" in reason.message and "high" in reason.message
    low = g.version_state(version(policy=LOW, findings=(finding("high"),)), MODEL, now=NOW)
    assert low.gate_open and low.reasons == ()
    # It is looked at again the day after it falls due (it would then need attention).
    assert low.recheck_at == datetime(2027, 1, 16, tzinfo=UTC)


def test_a_blocking_finding_on_what_runs_makes_it_non_compliant():
    state = g.version_state(version(stage="production", findings=(finding("critical"),)), MODEL, now=NOW)
    assert (state.status, {r.code for r in state.reasons}) == (g.NON_COMPLIANT, {"finding_blocking"})


def test_a_minor_finding_past_its_due_date_needs_attention_only():
    state = g.version_state(version(findings=(finding("low", due=date(2026, 11, 30)),)), MODEL, now=NOW)
    assert state.gate_open and state.status == g.ATTENTION
    assert [r.code for r in state.reasons] == ["finding_overdue"]


def test_an_open_incident_needs_attention_and_a_late_serious_report_is_non_compliant():
    incident = g.OpenIncident(ref=3, title="Applicants refused in error", aware_on=date(2026, 12, 1),
                              report_deadline=date(2026, 12, 16))
    state = g.version_state(version(stage="production"), replace(MODEL, open_incidents=(incident,)), now=NOW)
    assert state.gate_open and state.status == g.ATTENTION
    (reason,) = state.reasons
    assert reason.code == "incident_open" and "16 Dec 2026" in reason.message and reason.ref == 3
    assert state.recheck_at == datetime(2026, 12, 17, tzinfo=UTC)
    late = replace(incident, report_deadline=date(2026, 12, 2))
    state = g.version_state(version(stage="production"), replace(MODEL, open_incidents=(late,)), now=NOW)
    assert (state.status, [r.code for r in state.reasons]) == (g.NON_COMPLIANT, ["incident_report_overdue"])
    reported = replace(late, reported=True)
    state = g.version_state(version(stage="production"), replace(MODEL, open_incidents=(reported,)), now=NOW)
    assert [r.code for r in state.reasons] == ["incident_open"]


def test_a_models_incident_appears_once_and_a_version_finding_names_its_version():
    incident = g.OpenIncident(ref=3, title="Outage", aware_on=date(2026, 12, 1))
    model = replace(MODEL, open_incidents=(incident,))
    v1 = g.version_state(version(stage="production", findings=(finding("critical"),)), model, now=NOW)
    v2 = g.version_state(version(stage="production"), model, now=NOW)
    state = g.model_state(model, [("2.0", "production", v1), ("2.1", "production", v2)], now=NOW)
    by_code = {r.code: r for r in state.reasons}
    assert [r.code for r in state.reasons].count("incident_open") == 1
    assert by_code["finding_blocking"].message.startswith("Version 2.0: the critical")
    assert by_code["finding_blocking"].ref == 7 and by_code["finding_blocking"].as_dict()["ref"] == 7
    assert "ref" not in g.Reason("x", g.ATTENTION, "m", g.FIX_MODEL).as_dict()

"""The pure governance rules (apps.inventory.governance), hand-worked, without a database."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from apps.inventory import governance as g

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CRITICAL = g.Policy(tier="critical", required_approvals=3, checklists=("intentionality", "accountability"),
                    monitoring_cadence="daily", suspend_on_breach=True)
LOW = g.Policy(tier="low", required_approvals=1, checklists=("intentionality",), monitoring_cadence="monthly")
MODEL = g.ModelFacts(name="Credit scoring", assessed=True, reassessment_due=date(2027, 3, 1))
APPROVED = g.Approval(content_matches=True, approvals=3, required=3, decided_at=NOW - timedelta(days=10))


def production(policy=CRITICAL, **changes) -> g.VersionFacts:
    facts = g.VersionFacts(label="2.0", stage="production", policy=policy, approval=APPROVED,
                           in_production_since=NOW - timedelta(days=9), last_evidence_at=NOW - timedelta(hours=5))
    return replace(facts, **changes)


def codes(state: g.State) -> set[str]:
    return {r.code for r in state.reasons}


def test_it_calls_a_sound_production_version_compliant_and_healthy():
    state = g.version_state(production(), MODEL, now=NOW)
    assert (state.status, state.health, state.approval, state.reasons) == (g.COMPLIANT, g.HEALTHY, g.APPROVED, ())
    assert state.gate_open
    # The daily cadence with its 12 hours' grace lapses 36 hours after the last evidence.
    assert state.recheck_at == NOW - timedelta(hours=5) + timedelta(days=1, hours=12)


def test_a_never_evaluated_production_version_has_no_evidence_and_is_never_healthy():
    state = g.version_state(production(last_evidence_at=None), MODEL, now=NOW)
    assert state.health == g.NO_EVIDENCE and state.status == g.NON_COMPLIANT
    assert codes(state) == {"monitoring_never"}
    assert state.gate_open  # monitoring is owed by what runs; it does not hold a promotion


def test_a_newly_promoted_version_owes_its_first_evidence_without_being_late():
    since = NOW - timedelta(hours=3)
    state = g.version_state(production(last_evidence_at=None, in_production_since=since), MODEL, now=NOW)
    assert (state.status, state.health, codes(state)) == (g.ATTENTION, g.NO_EVIDENCE, {"monitoring_due"})
    assert state.recheck_at == since + timedelta(days=1, hours=12)


def test_lapsed_evidence_is_monitoring_overdue():
    state = g.version_state(production(last_evidence_at=NOW - timedelta(days=2)), MODEL, now=NOW)
    assert (state.status, state.health, codes(state)) == (g.NON_COMPLIANT, g.NO_EVIDENCE, {"monitoring_overdue"})
    assert "daily" in state.reasons[0].message


def test_a_breach_on_a_suspending_tier_suspends_the_approval_and_closes_the_gate():
    facts = production(open_breaches=1, last_breach_at=NOW - timedelta(hours=5))
    state = g.version_state(facts, MODEL, now=NOW)
    assert (state.status, state.approval, state.health) == (g.SUSPENDED, g.APPROVAL_SUSPENDED, g.BREACH)
    assert codes(state) == {"approval_suspended", "alert_breach"}
    assert not state.gate_open and "re-approves" in state.blockers()[0]


def test_resolving_the_alert_does_not_lift_the_suspension():
    facts = production(open_breaches=0, last_breach_at=NOW - timedelta(hours=5))
    state = g.version_state(facts, MODEL, now=NOW)
    assert state.status == g.SUSPENDED and state.health == g.HEALTHY


def test_a_re_approval_after_the_breach_lifts_the_suspension():
    approval = replace(APPROVED, decided_at=NOW - timedelta(hours=1))
    facts = production(approval=approval, open_breaches=1, last_breach_at=NOW - timedelta(hours=5))
    state = g.version_state(facts, MODEL, now=NOW)
    assert state.approval == g.APPROVED and state.gate_open and state.status == g.NON_COMPLIANT  # the breach stays


def test_a_risk_acceptance_lifts_it_until_it_expires():
    facts = production(last_breach_at=NOW - timedelta(hours=5), acceptance_until=date(2026, 12, 20),
                       acceptance_by="Rita Reviewer")
    state = g.version_state(facts, MODEL, now=NOW)
    assert (state.status, state.approval, codes(state)) == (g.ATTENTION, g.APPROVED, {"risk_accepted"})
    assert "Rita Reviewer" in state.reasons[0].message and state.gate_open
    # The state changes the day after the last day, and no later (an acceptance ending today is rechecked at midnight).
    ending_today = g.version_state(replace(facts, acceptance_until=date(2026, 12, 3)), MODEL, now=NOW)
    assert ending_today.gate_open and ending_today.recheck_at == datetime(2026, 12, 4, tzinfo=UTC)
    expired = g.version_state(replace(facts, acceptance_until=date(2026, 12, 2)), MODEL, now=NOW)
    assert expired.status == g.SUSPENDED


def test_a_breach_on_a_lower_tier_raises_an_alert_only():
    facts = production(policy=LOW, approval=replace(APPROVED, required=1), open_breaches=2,
                       last_breach_at=NOW - timedelta(hours=5))
    state = g.version_state(facts, MODEL, now=NOW)
    assert (state.status, state.approval, codes(state)) == (g.NON_COMPLIANT, g.APPROVED, {"alert_breach"})
    assert state.gate_open and "2 metrics" in state.reasons[0].message


def test_a_tier_that_rose_makes_one_approval_of_three_insufficient():
    approval = g.Approval(content_matches=True, approvals=1, required=3, missing_checklists=("accountability",))
    state = g.version_state(production(approval=approval), MODEL, now=NOW)
    assert state.approval == g.INSUFFICIENT and state.status == g.NON_COMPLIANT
    assert "1 of the 3 approvals its current tier (critical)" in state.blockers()[0]
    assert "accountability" in state.blockers()[1]


def test_changed_content_voids_the_approval():
    state = g.version_state(production(approval=g.Approval(False, 0, 0)), MODEL, now=NOW)
    assert (state.approval, codes(state), state.gate_open) == (g.VOID, {"approval_void"}, False)


def test_an_inactive_owner_makes_production_non_compliant():
    state = g.version_state(production(), replace(MODEL, owner_active=False, owner_name="Ola Owner"), now=NOW)
    assert state.status == g.NON_COMPLIANT and "Ola Owner" in state.blockers()[0]


@pytest.mark.parametrize(("model", "code"), [
    (replace(MODEL, assessed=False, reassessment_due=None), "not_assessed"),
    (replace(MODEL, reassessment_due=date(2026, 12, 1)), "assessment_overdue"),
    (replace(MODEL, reassessment_requested=("its exposure changed.",)), "reassessment_requested"),
])
def test_risk_assessment_gaps_block_the_gate(model, code):
    state = g.version_state(production(), model, now=NOW)
    assert codes(state) == {code} and not state.gate_open and state.status == g.NON_COMPLIANT


def test_an_assessment_falling_due_soon_needs_attention_and_a_recheck_on_the_day():
    state = g.version_state(production(), replace(MODEL, reassessment_due=date(2026, 12, 10)), now=NOW)
    assert (state.status, codes(state)) == (g.ATTENTION, {"assessment_due_soon"})
    due_today = g.version_state(production(), replace(MODEL, reassessment_due=date(2026, 12, 3)), now=NOW)
    assert due_today.recheck_at == datetime(2026, 12, 4, tzinfo=UTC)  # overdue from tomorrow
    far = g.model_state(replace(MODEL, reassessment_due=date(2027, 3, 1)), [], now=NOW)
    assert far.recheck_at == datetime(2027, 2, 16, tzinfo=UTC)  # 14 days before: "due soon" begins


def test_a_version_in_development_owes_its_approval_only_before_production():
    facts = g.VersionFacts(label="3.0", stage="development", policy=CRITICAL)
    state = g.version_state(facts, MODEL, now=NOW)
    assert (state.status, state.health, codes(state)) == (g.COMPLIANT, g.NOT_MONITORED, {"approval_missing"})
    assert not state.gate_open


def test_environment_mismatch_and_override_are_named():
    state = g.version_state(production(environment_mismatch=True, overridden=True), MODEL, now=NOW)
    assert codes(state) == {"environment_mismatch", "gate_overridden"} and state.status == g.ATTENTION


def test_a_model_takes_its_production_versions_state_not_its_candidates():
    sound = g.version_state(production(), MODEL, now=NOW)
    candidate = g.version_state(g.VersionFacts(label="3.0", stage="staging", policy=CRITICAL), MODEL, now=NOW)
    state = g.model_state(MODEL, [("2.0", "production", sound), ("3.0", "staging", candidate)], now=NOW)
    assert (state.status, state.health, state.approval) == (g.COMPLIANT, g.HEALTHY, g.APPROVED)


def test_a_model_takes_the_worst_of_its_production_versions_naming_each():
    sound = g.version_state(production(), MODEL, now=NOW)
    late = g.version_state(production(label="1.9", last_evidence_at=None), MODEL, now=NOW)
    state = g.model_state(MODEL, [("2.0", "production", sound), ("1.9", "production", late)], now=NOW)
    assert state.status == g.NON_COMPLIANT and state.health == g.NO_EVIDENCE
    assert [(r.version, r.message[:16]) for r in state.reasons] == [("1.9", "Version 1.9: it ")]


def test_a_model_without_production_takes_its_most_advanced_candidate():
    dev = g.version_state(g.VersionFacts(label="1.0", stage="development", policy=CRITICAL), MODEL, now=NOW)
    approved = g.version_state(g.VersionFacts(label="1.1", stage="staging", policy=CRITICAL, approval=APPROVED),
                               MODEL, now=NOW)
    state = g.model_state(MODEL, [("1.0", "development", dev), ("1.1", "staging", approved)], now=NOW)
    assert (state.status, state.approval, state.health) == (g.COMPLIANT, g.APPROVED, g.NOT_MONITORED)


def test_model_reasons_appear_once_across_versions():
    model = replace(MODEL, owner_active=False)
    a = g.version_state(production(), model, now=NOW)
    b = g.version_state(production(label="1.9"), model, now=NOW)
    state = g.model_state(model, [("2.0", "production", a), ("1.9", "production", b)], now=NOW)
    assert [r.code for r in state.reasons] == ["owner_inactive"]


def test_a_model_without_versions_is_judged_on_its_own_facts():
    state = g.model_state(replace(MODEL, assessed=False, reassessment_due=None), [], now=NOW)
    assert (state.status, codes(state)) == (g.ATTENTION, {"not_assessed"})


def test_retired_versions_owe_nothing():
    state = g.version_state(production(stage="retired", last_evidence_at=None), MODEL, now=NOW)
    assert (state.status, state.reasons) == (g.COMPLIANT, ())


def test_rollup_counts_and_takes_the_worst():
    result = g.rollup([g.COMPLIANT, g.ATTENTION, g.COMPLIANT, g.SUSPENDED])
    assert result.counts == {g.COMPLIANT: 2, g.ATTENTION: 1, g.NON_COMPLIANT: 0, g.SUSPENDED: 1}
    assert (result.total, result.status) == (4, g.SUSPENDED)
    assert g.rollup([]).status == g.COMPLIANT


def test_every_documented_reason_code_can_arise_and_no_other():
    scenarios = [
        g.version_state(production(last_evidence_at=None), replace(MODEL, assessed=False), now=NOW),
        g.version_state(production(last_evidence_at=NOW - timedelta(days=9)),
                        replace(MODEL, reassessment_due=date(2026, 1, 1), owner_active=False,
                                reassessment_requested=("x",)), now=NOW),
        g.version_state(production(in_production_since=NOW, last_evidence_at=None, open_warnings=1,
                                   environment_mismatch=True, overridden=True),
                        replace(MODEL, reassessment_due=date(2026, 12, 5)), now=NOW),
        g.version_state(production(open_breaches=1, last_breach_at=NOW), MODEL, now=NOW),
        g.version_state(production(last_breach_at=NOW, acceptance_until=date(2027, 1, 1)), MODEL, now=NOW),
        g.version_state(production(approval=None), MODEL, now=NOW),
        g.version_state(production(approval=g.Approval(False, 0, 0)), MODEL, now=NOW),
        g.version_state(production(approval=g.Approval(True, 1, 3)), MODEL, now=NOW),
        g.version_state(production(approval=None, shadow_marks=("alias champion on MLflow prod",)), MODEL, now=NOW),
        g.version_state(production(open_findings=(g.OpenFinding(1, "a", "critical", date(2027, 1, 1)),
                                                  g.OpenFinding(2, "b", "low", date(2026, 1, 1)))),
                        replace(MODEL, open_incidents=(g.OpenIncident(3, "c", date(2026, 12, 1)),
                                                       g.OpenIncident(4, "d", date(2026, 11, 1), date(2026, 11, 3)))),
                        now=NOW),
    ]
    seen = set().union(*(codes(s) for s in scenarios))
    assert seen == set(g.REASON_CODES)


def test_a_version_marked_production_in_mlflow_without_approval_is_a_shadow_promotion():
    marked = ("alias champion on MLflow prod",)
    dev = g.version_state(g.VersionFacts(label="1.1", stage="development", policy=CRITICAL, shadow_marks=marked),
                          MODEL, now=NOW)
    [reason] = [r for r in dev.reasons if r.code == "shadow_promotion"]
    assert dev.status == g.NON_COMPLIANT and "alias champion on MLflow prod" in reason.message
    approved = g.version_state(g.VersionFacts(label="1.1", stage="development", policy=CRITICAL, approval=APPROVED,
                                              shadow_marks=marked), MODEL, now=NOW)
    assert "shadow_promotion" not in codes(approved) and approved.status == g.COMPLIANT


def test_a_shadow_promoted_version_beside_sound_production_makes_the_model_non_compliant():
    sound = g.version_state(production(), MODEL, now=NOW)
    shadow = g.version_state(g.VersionFacts(label="3.0", stage="development", policy=CRITICAL,
                                            shadow_marks=("alias prod on MLflow",)), MODEL, now=NOW)
    state = g.model_state(MODEL, [("2.0", "production", sound), ("3.0", "development", shadow)], now=NOW)
    assert state.status == g.NON_COMPLIANT
    assert [r.version for r in state.reasons if r.code == "shadow_promotion"] == ["3.0"]

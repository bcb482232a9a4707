"""The pure rules: which controls apply and how each evidence kind is judged, worked by hand."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from apps.compliance import evaluation as ev

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HIGH_PROVIDER = ev.Classification("high_risk", "essential_services", "provider", AT)


def control(code="C", evidence=("classification",), **rule) -> ev.ControlSpec:
    return ev.ControlSpec(pk=1, framework="fw", version="1", code=code, title=code, reference="Art. 1",
                          evidence=tuple(evidence), applicability=ev.Applicability(**rule))


def complete(**overrides) -> ev.Facts:
    """A model whose file is complete: every kind satisfied."""
    return replace(ev.Facts(
        classification=HIGH_PROVIDER, tier="high", approval="approved", in_production=True, assessed_at=AT,
        risks_rated=4, assessment_rationale=True, approved_at=AT, versions=2, versions_with_lineage=2,
        versions_with_environment=2, versions_with_metrics=2, fairness_evaluated_at=AT, audit_events=3, audited_at=AT,
        last_evidence_at=AT, documented_at=AT), **overrides)


def test_a_complete_file_satisfies_every_kind():
    facts = complete()
    assert {kind: ev.JUDGES[kind](facts).status for kind in ev.EVIDENCE_KINDS} == dict.fromkeys(
        ev.EVIDENCE_KINDS, ev.SATISFIED)


def test_an_empty_file_misses_every_kind_but_monitoring_oversight_findings_and_incidents():
    facts = ev.Facts(missing_documentation=("purpose", "intended use", "out-of-scope uses"))
    judged = {kind: ev.JUDGES[kind](facts).status for kind in ev.EVIDENCE_KINDS}
    # Nothing in production: monitoring is not yet owed (partial); a person decides: oversight holds.
    assert judged.pop("monitoring") == ev.PARTIAL
    assert judged.pop("human_oversight") == ev.SATISFIED
    # No finding raised and no incident recorded: nothing is left open.
    assert (judged.pop("findings"), judged.pop("incidents")) == (ev.SATISFIED, ev.SATISFIED)
    assert set(judged.values()) == {ev.MISSING}


@pytest.mark.parametrize(("overrides", "status", "fragment"), [
    ({"risks_rated": 3}, ev.PARTIAL, "only 3 of the 4 risks"),
    ({"assessment_rationale": False}, ev.PARTIAL, "rationale is empty"),
    ({"reason_codes": frozenset({"assessment_overdue"})}, ev.PARTIAL, "overdue"),
    ({"assessed_at": None}, ev.MISSING, "No risk assessment"),
])
def test_the_risk_assessment_is_judged_on_its_ratings_rationale_and_due_date(overrides, status, fragment):
    evidence = ev.JUDGES["risk_assessment"](complete(**overrides))
    assert (evidence.status, fragment in evidence.note) == (status, True)
    assert evidence.fix


@pytest.mark.parametrize(("approval", "status"), [
    ("approved", ev.SATISFIED), ("suspended", ev.PARTIAL), ("insufficient", ev.PARTIAL), ("void", ev.MISSING),
    ("missing", ev.MISSING)])
def test_the_approval_reads_the_stored_approval_state(approval, status):
    assert ev.JUDGES["approval"](complete(approval=approval)).status == status


def test_checklists_answered_in_an_approval_a_breach_suspended_still_count():
    assert ev.JUDGES["checklists"](complete(approval="suspended")).status == ev.SATISFIED
    assert ev.JUDGES["checklists"](complete(approval="insufficient")).status == ev.PARTIAL


@pytest.mark.parametrize(("codes", "status"), [
    (set(), ev.SATISFIED), ({"monitoring_due"}, ev.PARTIAL), ({"monitoring_overdue"}, ev.MISSING),
    ({"monitoring_never"}, ev.MISSING)])
def test_monitoring_reads_the_stored_cadence_reasons(codes, status):
    assert ev.JUDGES["monitoring"](complete(reason_codes=frozenset(codes))).status == status


def test_lineage_is_partial_when_a_version_names_no_data_or_personal_data_has_no_legal_basis():
    assert ev.JUDGES["lineage"](complete(versions_with_lineage=1)).note.startswith("1 of 2 versions name no")
    evidence = ev.JUDGES["lineage"](complete(personal_data_without_basis=1))
    assert (evidence.status, "legal basis" in evidence.note) == (ev.PARTIAL, True)


def test_an_environment_mismatch_makes_environment_fidelity_partial():
    evidence = ev.JUDGES["environment"](complete(reason_codes=frozenset({"environment_mismatch"})))
    assert evidence.status == ev.PARTIAL


def test_an_open_breach_makes_performance_partial():
    assert ev.JUDGES["performance"](complete(reason_codes=frozenset({"alert_breach"}))).status == ev.PARTIAL


def test_documentation_names_the_empty_fields():
    evidence = ev.JUDGES["documentation"](complete(missing_documentation=("out-of-scope uses",)))
    assert (evidence.status, evidence.fix) == (ev.PARTIAL, "Fill in out-of-scope uses on the model.")


def test_oversight_is_missing_without_an_active_owner_and_partial_when_fully_automated():
    assert ev.JUDGES["human_oversight"](complete(reason_codes=frozenset({"owner_inactive"}))).status == ev.MISSING
    assert ev.JUDGES["human_oversight"](complete(fully_automated=True)).status == ev.PARTIAL


def test_a_control_rolls_up_its_evidence():
    assert ev.rollup([ev.SATISFIED, ev.SATISFIED]) == ev.SATISFIED
    assert ev.rollup([ev.SATISFIED, ev.MISSING]) == ev.PARTIAL
    assert ev.rollup([ev.PARTIAL]) == ev.PARTIAL
    assert ev.rollup([ev.MISSING, ev.MISSING]) == ev.MISSING


def test_a_prohibited_practice_cannot_be_satisfied():
    evidence = ev.JUDGES["not_prohibited"](complete(classification=ev.Classification("prohibited", "none",
                                                                                      "provider", AT)))
    assert (evidence.status, evidence.at) == (ev.MISSING, AT)
    assert ev.JUDGES["not_prohibited"](complete()).status == ev.SATISFIED


def test_high_risk_provider_controls_apply_only_to_a_high_risk_provider():
    rule = control(eu_categories=("high_risk",), roles=("provider",))
    assert ev.applies(rule, complete())
    assert not ev.applies(rule, complete(classification=ev.Classification("high_risk", "essential_services",
                                                                           "deployer")))
    assert not ev.applies(rule, complete(classification=ev.Classification("minimal", "none", "provider")))
    assert not ev.applies(rule, complete(classification=None))


def test_a_tier_rule_treats_an_unassessed_model_as_critical():
    rule = control(tiers=("high", "critical"))
    assert ev.applies(rule, complete(tier=None))
    assert not ev.applies(rule, complete(tier="low"))


def test_evaluate_lists_applicable_controls_with_their_evidence_and_fixes():
    controls = [control("A", ("classification", "approval")), control("B", ("approval",), eu_categories=("limited",)),
                control("C", ("fairness",))]
    results = ev.evaluate(controls, complete(approval="missing", fairness_evaluated_at=None))
    assert [(r.control.code, r.status) for r in results] == [("A", ev.PARTIAL), ("C", ev.MISSING)]
    assert results[0].fixes == ["Open a review of the version and have it approved."]
    assert results[0].evidence[0].at == AT


def test_coverage_adds_up_the_models_by_framework_and_group():
    a = [ev.ControlResult(control("1"), ev.SATISFIED, ()), ev.ControlResult(control("2"), ev.MISSING, ())]
    b = [ev.ControlResult(control("1"), ev.PARTIAL, ())]
    by_framework, by_group, total = ev.coverage({1: a, 2: b}, group_of={1: "Retail", 2: "Cards"}.__getitem__)
    assert total.as_dict() == {"models": 2, "applicable": 3, "satisfied": 1, "partial": 1, "missing": 1,
                               "percent": 33}
    assert by_group["Retail"].as_dict()["percent"] == 50
    assert by_group["Cards"].as_dict() == {"models": 1, "applicable": 1, "satisfied": 0, "partial": 1,
                                           "missing": 0, "percent": 0}
    assert by_framework["fw"].applicable == 3


def test_a_control_naming_an_unknown_evidence_kind_or_answer_is_refused():
    assert control(evidence=("magic",)).problems() == [
        f"Unknown evidence kind 'magic'; use one of {', '.join(ev.EVIDENCE_KINDS)}."]
    assert "Unknown role 'owner'" in control(roles=("owner",)).problems()[0]
    assert control(evidence=()).problems()

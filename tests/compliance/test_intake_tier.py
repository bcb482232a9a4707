"""The preliminary tier of a proposal: the screening scored on the risk matrix, then the questionnaire's floors."""

from apps.compliance.intake_tier import Screening, preliminary_tier
from apps.risk.scoring import DEFAULT_MATRIX


def tier(**answers):
    return preliminary_tier(DEFAULT_MATRIX, Screening(**{"eu_category": "minimal", **answers}))


def test_the_screening_alone_reads_the_matrix_cell():
    result = tier(probability=2, impact=2)
    assert result.tier == "low"
    assert result.steps == ("Screening on the risk matrix: probability 2 (Unlikely) x impact 2 (Minor) = low.",
                            "Preliminary tier: low.")


def test_use_outside_the_organisation_and_full_automation_each_raise_it_a_step():
    result = tier(probability=2, impact=3, exposure="public", automation_level="fully_automated")
    assert result.tier == "critical"  # medium (6), +1 public, +1 fully automated
    assert "Escalated: used outside the organisation (+1)." in result.steps
    assert "Escalated: fully automated decisions (+1)." in result.steps


def test_personal_data_of_many_people_raises_it():
    assert tier(probability=1, impact=2, personal_data=True, people_affected=200_000).tier == "medium"
    assert tier(probability=1, impact=2, personal_data=True, people_affected=50).tier == "low"


def test_a_high_risk_use_is_at_least_high_and_says_why():
    result = tier(probability=1, impact=1, eu_category="high_risk", annex_iii_area="essential_services")
    assert result.tier == "high"
    assert "EU AI Act high-risk (essential_services): at least high." in result.steps


def test_a_high_risk_use_keeps_a_higher_screening_tier():
    assert tier(probability=5, impact=5, eu_category="high_risk", annex_iii_area="employment").tier == "critical"


def test_a_prohibited_practice_is_critical():
    result = tier(probability=1, impact=1, eu_category="prohibited")
    assert result.tier == "critical" and "cannot be approved" in result.steps[-2]

"""The scoring rules, checked against hand-worked examples."""

import copy

import pytest

from apps.risk.scoring import (
    DEFAULT_MATRIX,
    RISKS,
    Context,
    MatrixError,
    compute_tier,
    severity,
    validate_matrix,
)

ALL_LOW = dict.fromkeys(RISKS, (1, 1))


@pytest.mark.parametrize(
    ("probability", "impact", "expected"),
    [(1, 1, "low"), (2, 2, "low"), (1, 5, "medium"), (3, 3, "medium"), (2, 5, "high"), (4, 4, "high"),
     (4, 5, "critical"), (5, 5, "critical"), (5, 1, "medium")],
)
def test_default_matrix_bands_follow_probability_times_impact(probability, impact, expected):
    # 1-4 low, 5-9 medium, 10-16 high, 20-25 critical
    assert severity(DEFAULT_MATRIX, probability, impact) == expected


def test_the_base_tier_is_the_worst_risk():
    ratings = {**ALL_LOW, "degradation": (3, 4)}  # 12 -> high
    result = compute_tier(DEFAULT_MATRIX, ratings, Context())
    assert result.severities["degradation"] == "high" and result.base_tier == result.tier == "high"


def test_a_customer_facing_fully_automated_model_escalates_two_steps():
    ratings = {**ALL_LOW, "wrong_prediction": (3, 2)}  # 6 -> medium
    result = compute_tier(DEFAULT_MATRIX, ratings,
                          Context(exposure="customer_facing", automation_level="fully_automated"))
    assert (result.base_tier, result.tier) == ("medium", "critical")
    assert len(result.escalations) == 2


def test_escalation_stops_at_critical():
    ratings = {**ALL_LOW, "wrong_prediction": (5, 5)}
    result = compute_tier(DEFAULT_MATRIX, ratings, Context(exposure="public", automation_level="fully_automated"))
    assert result.tier == "critical"


def test_a_regulated_domain_sets_a_floor_of_high():
    result = compute_tier(DEFAULT_MATRIX, ALL_LOW, Context(regulated_domain="credit"))
    assert (result.base_tier, result.tier) == ("low", "high")


def test_personal_data_escalates_only_above_the_people_threshold():
    small = compute_tier(DEFAULT_MATRIX, ALL_LOW, Context(personal_data=True, people_affected=5_000))
    large = compute_tier(DEFAULT_MATRIX, ALL_LOW, Context(personal_data=True, people_affected=2_000_000))
    assert (small.tier, large.tier) == ("low", "medium")


def test_every_risk_must_be_rated():
    with pytest.raises(MatrixError, match="unrated risks: Loss of skills"):
        compute_tier(DEFAULT_MATRIX, {k: v for k, v in ALL_LOW.items() if k != "skills_loss"}, Context())


@pytest.mark.parametrize("value", [0, 6, None])
def test_ratings_outside_one_to_five_are_refused(value):
    with pytest.raises(MatrixError, match="must be 1-5"):
        severity(DEFAULT_MATRIX, value, 3)


def test_the_default_matrix_is_valid():
    validate_matrix(DEFAULT_MATRIX)


def test_a_matrix_whose_severity_falls_as_impact_rises_is_refused():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["grid"][4][4] = "low"
    with pytest.raises(MatrixError, match="must not fall"):
        validate_matrix(matrix)


def test_a_matrix_with_an_unknown_severity_names_the_cell():
    matrix = copy.deepcopy(DEFAULT_MATRIX)
    matrix["grid"][1][2] = "severe"
    with pytest.raises(MatrixError, match="probability 2, impact 3: 'severe'"):
        validate_matrix(matrix)


def test_a_custom_matrix_changes_the_result():
    strict = copy.deepcopy(DEFAULT_MATRIX)
    strict["grid"] = [["medium" if s == "low" else s for s in row] for row in strict["grid"]]
    assert compute_tier(strict, ALL_LOW, Context()).tier == "medium"

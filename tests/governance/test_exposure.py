"""Expected exposure: value at stake x severity factor x control factor, worked by hand."""

from decimal import Decimal

import pytest

from apps.governance import exposure


def test_a_hand_worked_model_serving_two_processes():
    # A high-tier model (0.5) that is non-compliant (0.6) serves a process worth 2,000,000 a year and one
    # worth 350,000.50: 2,000,000 x 0.3 = 600,000 and 350,000.50 x 0.3 = 105,000.15, rounded to 105,000.
    values = {7: Decimal("2000000"), 9: Decimal("350000.50"), 11: None}

    assert exposure.factor(tier="high", status="non_compliant") == Decimal("0.30")
    assert exposure.shares(values, tier="high", status="non_compliant") == {7: 600_000, 9: 105_000}
    assert exposure.expected_exposure(values, tier="high", status="non_compliant") == 705_000


@pytest.mark.parametrize(("tier", "status", "expected"), [
    ("critical", "suspended", 1_000_000),  # everything at risk
    ("critical", "compliant", 100_000),  # controls reduce the risk, never remove it
    ("low", "compliant", 5_000),
    ("medium", "attention", 60_000),
    ("", "non_compliant", 600_000),  # never assessed counts as critical
])
def test_severity_and_governance_state_scale_the_value_at_stake(tier, status, expected):
    assert exposure.expected_exposure({1: 1_000_000}, tier=tier, status=status) == expected


def test_nothing_at_stake_is_no_exposure():
    assert exposure.shares({1: None, 2: 0}, tier="critical", status="suspended") == {}
    assert exposure.expected_exposure({}, tier="critical", status="suspended") == 0

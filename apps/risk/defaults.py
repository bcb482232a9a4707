"""Seeded defaults: matrix v1 and the first policy of each tier. Admins edit them as new versions."""

from apps.risk.scoring import DEFAULT_MATRIX

DEFAULT_POLICIES = {
    "low": {
        "required_approvals": 1, "checklists": ["intentionality"], "monitoring_cadence": "monthly",
        "metric_thresholds": {"accuracy_min": 0.7, "psi_max": 0.25, "demographic_parity_difference_max": 0.2},
        "reassessment_days": 365,
    },
    "medium": {
        "required_approvals": 1, "checklists": ["intentionality", "accountability"], "monitoring_cadence": "monthly",
        "metric_thresholds": {"accuracy_min": 0.75, "psi_max": 0.2, "demographic_parity_difference_max": 0.15},
        "reassessment_days": 180,
    },
    "high": {
        "required_approvals": 2, "checklists": ["intentionality", "accountability"], "monitoring_cadence": "weekly",
        "metric_thresholds": {"accuracy_min": 0.8, "psi_max": 0.15, "demographic_parity_difference_max": 0.1},
        "reassessment_days": 120,
    },
    "critical": {
        "required_approvals": 3, "checklists": ["intentionality", "accountability"], "monitoring_cadence": "daily",
        "metric_thresholds": {"accuracy_min": 0.85, "psi_max": 0.1, "demographic_parity_difference_max": 0.05},
        "reassessment_days": 90,
    },
}

# Added after the first policies (migration 0005): on these tiers a monitoring breach suspends the approval.
SUSPEND_ON_BREACH_TIERS = ("high", "critical")

# Added with the findings (migration 0007): the least severe open finding that holds the gate, per tier. The
# stricter the tier, the less severe a finding it tolerates in production.
FINDING_BLOCKS_FROM = {"low": "critical", "medium": "high", "high": "high", "critical": "medium"}

__all__ = ["DEFAULT_MATRIX", "DEFAULT_POLICIES", "FINDING_BLOCKS_FROM", "SUSPEND_ON_BREACH_TIERS"]

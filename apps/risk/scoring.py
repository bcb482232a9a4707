"""Risk scoring: probability x impact -> severity, and the severities of a model's risks -> its tier.

Pure functions over plain data (no Django imports) so the rules can be read,
tested and benchmarked on their own.

1. Each risk is rated on probability (1-5) and impact (1-5).
2. Its severity is read from a 5x5 matrix ``grid[probability - 1][impact - 1]``.
   The default grid follows the usual product bands: score = p x i;
   1-4 low, 5-9 medium, 10-16 high, 20-25 critical.
3. The model's base tier is the highest severity among its risks.
4. Context escalates the tier one step per rule that applies (at most up to
   critical): use outside the organisation (customer-facing or public),
   fully automated decisions, personal data at scale (more than
   ``people_threshold`` people affected). A regulated domain (credit, hiring,
   health, ...) sets a floor of ``regulated_floor`` (default high).

The matrix (grid + escalation settings) is versioned data: assessments record
the version they were scored with, so editing it changes only new assessments.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

TIERS = ("low", "medium", "high", "critical")
LEVELS = (1, 2, 3, 4, 5)

PROBABILITY_LEVELS = {
    1: ("Rare", "Not expected in the model's lifetime; no precedent."),
    2: ("Unlikely", "Could happen once in several years."),
    3: ("Possible", "Could happen about once a year."),
    4: ("Likely", "Expected several times a year."),
    5: ("Almost certain", "Expected monthly or more often; already seen."),
}
IMPACT_LEVELS = {
    1: ("Negligible", "No noticeable effect on customers, money or reputation."),
    2: ("Minor", "Small, quickly reversible effect; internal inconvenience."),
    3: ("Moderate", "Noticeable financial loss or some customers affected; reversible with effort."),
    4: ("Major", "Large loss, many people affected, regulatory attention."),
    5: ("Severe", "Lasting harm to people, legal breach or existential reputational damage."),
}

RISKS = {
    "unavailable": ("Model unavailable", "The model cannot serve predictions for a period (outage, broken pipeline)."),
    "wrong_prediction": ("Wrong prediction", "The model returns a wrong prediction for a given sample."),
    "degradation": ("Degradation", "Accuracy or fairness degrades over time (drift, changed population)."),
    "skills_loss": ("Loss of skills", "The people who can maintain the model leave; knowledge is lost."),
}

REGULATED_DOMAINS = {
    "none": "None",
    "credit": "Credit and lending",
    "insurance": "Insurance pricing or claims",
    "hiring": "Hiring and employment",
    "health": "Health and care",
    "education": "Education and exams",
    "public_services": "Access to public services and benefits",
    "law_enforcement": "Law enforcement",
    "critical_infrastructure": "Critical infrastructure",
}


def _band(score: int) -> str:
    if score <= 4:
        return "low"
    if score <= 9:
        return "medium"
    if score <= 16:
        return "high"
    return "critical"


DEFAULT_GRID = [[_band(p * i) for i in LEVELS] for p in LEVELS]
DEFAULT_MATRIX = {
    "grid": DEFAULT_GRID,
    "escalate_external_exposure": True,
    "escalate_fully_automated": True,
    "people_threshold": 100_000,
    "regulated_floor": "high",
}


class MatrixError(ValueError):
    """The matrix configuration is malformed; the message says where."""


def validate_matrix(matrix: Mapping) -> None:
    grid = matrix.get("grid")
    if not isinstance(grid, list) or len(grid) != 5 or any(not isinstance(r, list) or len(r) != 5 for r in grid):
        raise MatrixError("grid must be 5 rows (probability 1-5) of 5 severities (impact 1-5)")
    for p, row in enumerate(grid, start=1):
        for i, severity in enumerate(row, start=1):
            if severity not in TIERS:
                raise MatrixError(
                    f"grid cell probability {p}, impact {i}: {severity!r} is not one of {', '.join(TIERS)}"
                )
        if any(TIERS.index(a) > TIERS.index(b) for a, b in zip(row, row[1:], strict=False)):
            raise MatrixError(f"grid row probability {p}: severity must not fall as impact rises")
    for i in range(5):
        column = [grid[p][i] for p in range(5)]
        if any(TIERS.index(a) > TIERS.index(b) for a, b in zip(column, column[1:], strict=False)):
            raise MatrixError(f"grid column impact {i + 1}: severity must not fall as probability rises")
    if matrix.get("regulated_floor", "high") not in TIERS:
        raise MatrixError(f"regulated_floor must be one of {', '.join(TIERS)}")
    threshold = matrix.get("people_threshold", 100_000)
    if not isinstance(threshold, int) or threshold < 1:
        raise MatrixError("people_threshold must be a positive whole number")


def severity(matrix: Mapping, probability: int, impact: int) -> str:
    if probability not in LEVELS or impact not in LEVELS:
        raise MatrixError(f"probability and impact must be 1-5, got {probability} and {impact}")
    return matrix["grid"][probability - 1][impact - 1]


@dataclass(frozen=True)
class Context:
    exposure: str = "internal"  # internal | customer_facing | public
    automation_level: str = "human_decides"  # human_decides | human_reviews | fully_automated
    personal_data: bool = False
    people_affected: int = 0
    regulated_domain: str = "none"


@dataclass(frozen=True)
class TierResult:
    severities: dict[str, str]
    base_tier: str
    tier: str
    escalations: list[str] = field(default_factory=list)


def _step_up(tier: str, steps: int = 1) -> str:
    return TIERS[min(len(TIERS) - 1, TIERS.index(tier) + steps)]


def compute_tier(matrix: Mapping, ratings: Mapping[str, tuple[int, int]], context: Context) -> TierResult:
    """``ratings`` maps each risk key to (probability, impact); every key of ``RISKS`` must be rated."""
    missing = [key for key in RISKS if key not in ratings]
    if missing:
        raise MatrixError(f"unrated risks: {', '.join(RISKS[k][0] for k in missing)}")
    severities = {key: severity(matrix, *ratings[key]) for key in RISKS}
    base = max(severities.values(), key=TIERS.index)
    tier, escalations = base, []
    if matrix.get("escalate_external_exposure", True) and context.exposure in ("customer_facing", "public"):
        tier = _step_up(tier)
        escalations.append("used outside the organisation (+1)")
    if matrix.get("escalate_fully_automated", True) and context.automation_level == "fully_automated":
        tier = _step_up(tier)
        escalations.append("fully automated decisions (+1)")
    if context.personal_data and context.people_affected > matrix.get("people_threshold", 100_000):
        tier = _step_up(tier)
        escalations.append(f"personal data of more than {matrix.get('people_threshold', 100_000):,} people (+1)")
    floor = matrix.get("regulated_floor", "high")
    if context.regulated_domain not in ("", "none") and TIERS.index(tier) < TIERS.index(floor):
        tier = floor
        domain = REGULATED_DOMAINS.get(context.regulated_domain, context.regulated_domain)
        escalations.append(f"regulated domain ({domain}): at least {floor}")
    return TierResult(severities=severities, base_tier=base, tier=tier, escalations=escalations)

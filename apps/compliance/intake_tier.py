"""A proposed use case's preliminary tier: a short screening scored with the risk matrix, then the questionnaire.

Pure functions over plain data (no Django imports), like ``apps.risk.scoring`` which they reuse.

1. Screening: the proposer rates the worst credible failure of the intended use once, probability (1-5) and
   impact (1-5). Until the model's full assessment rates the four risks one by one, each of them takes this
   rating, so the base tier is the matrix cell ``grid[probability - 1][impact - 1]``.
2. The matrix's context rules escalate it as they do a model's (use outside the organisation, fully
   automated decisions, personal data of more than ``people_threshold`` people).
3. The classification questionnaire sets floors: an EU AI Act high-risk system is at least the matrix's
   ``regulated_floor``; a prohibited practice is critical (and cannot be approved).

Every step that changed the tier, and the first one, is written out so the page can show how it was derived.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from apps.risk.scoring import IMPACT_LEVELS, PROBABILITY_LEVELS, RISKS, TIERS, Context, compute_tier


@dataclass(frozen=True)
class Screening:
    probability: int
    impact: int
    eu_category: str
    annex_iii_area: str = "none"
    exposure: str = "internal"
    automation_level: str = "human_decides"
    personal_data: bool = False
    people_affected: int = 0


@dataclass(frozen=True)
class PreliminaryTier:
    tier: str
    steps: tuple[str, ...]


def preliminary_tier(matrix: Mapping, screening: Screening, *, matrix_label: str = "the risk matrix",
                     area_label: str = "") -> PreliminaryTier:
    """The tier a proposal starts with, and the sentences that derive it (``matrix`` as ``RiskMatrix.config``)."""
    s = screening
    rating = (s.probability, s.impact)
    result = compute_tier(matrix, dict.fromkeys(RISKS, rating), Context(
        exposure=s.exposure, automation_level=s.automation_level, personal_data=s.personal_data,
        people_affected=s.people_affected))
    steps = [f"Screening on {matrix_label}: probability {s.probability} ({PROBABILITY_LEVELS[s.probability][0]}) "
             f"x impact {s.impact} ({IMPACT_LEVELS[s.impact][0]}) = {result.base_tier}."]
    steps.extend(f"Escalated: {reason}." for reason in result.escalations)
    tier = result.tier
    floor = matrix.get("regulated_floor", "high")
    if s.eu_category == "high_risk" and TIERS.index(tier) < TIERS.index(floor):
        tier = floor
        steps.append(f"EU AI Act high-risk ({area_label or s.annex_iii_area}): at least {floor}.")
    if s.eu_category == "prohibited":
        tier = TIERS[-1]
        steps.append("EU AI Act prohibited practice (Art. 5): critical; such a use cannot be approved.")
    steps.append(f"Preliminary tier: {tier}.")
    return PreliminaryTier(tier=tier, steps=tuple(steps))

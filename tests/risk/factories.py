from apps.risk.scoring import RISKS


def ratings(probability: int = 2, impact: int = 2, **overrides) -> dict:
    """Ratings for every risk, with per-risk overrides: ratings(degradation=(4, 5))."""
    values = {key: {"probability": probability, "impact": impact, "rationale": f"{key} rationale"} for key in RISKS}
    for key, (p, i) in overrides.items():
        values[key] = {"probability": p, "impact": i, "rationale": f"{key} rationale"}
    return values

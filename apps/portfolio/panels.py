"""The governance panel of the model page: its stored governance state, each version's review and what blocks it
from production (as the gate sees it), and the open alerts.

It reaches the inventory's page through ``apps.inventory.panels``; every status it shows is the stored one.
"""

from apps.inventory.selectors import gate_blockers, stored_governance
from apps.monitoring.selectors import model_alerts
from apps.reviews.selectors import latest_review_per_version
from apps.risk.selectors import obligations_for


def governance_panels(model, versions) -> dict:
    """Risk, review and monitoring facts for the model page, in a constant number of queries."""
    latest = latest_review_per_version(model)
    rows = [{"version": version, "review": latest.get(version.pk), "blockers": gate_blockers(version)}
            for version in versions]
    return {"obligations": obligations_for(model), "review_rows": rows, "open_alerts": model_alerts(model, limit=20),
            "state": stored_governance(model)}

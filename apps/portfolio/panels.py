"""The governance panel of the model page: risk obligations, each version's review and blockers, open alerts.

One composition across three apps (a version's blockers weigh its review against the model's risk
obligations), so it lives on the read side and reaches the inventory's page through ``apps.inventory.panels``.
"""

from apps.inventory.gates import production_problems
from apps.inventory.models import Stage
from apps.monitoring.selectors import model_alerts
from apps.reviews.selectors import latest_review_per_version
from apps.risk.selectors import obligations_for


def governance_panels(model, versions) -> dict:
    """Risk, review and monitoring facts for the model page, in a constant number of queries."""
    obligations = obligations_for(model)
    latest = latest_review_per_version(model)
    rows = []
    for version in versions:
        review = latest.get(version.pk)
        if review is not None and review.state == "approved" and version.stage != Stage.RETIRED:
            # "Ready" is the gate's word: the approval judged against today's tier, policy and content.
            blockers = production_problems(version)
        else:
            blockers = []
            if not obligations.assessed:
                blockers.append("needs a risk assessment")
            elif obligations.overdue:
                blockers.append("risk re-assessment overdue")
            elif obligations.reassessment_pending:
                blockers.append("risk re-assessment pending")
            blockers.append("needs an approved review")
        rows.append({"version": version, "review": review, "blockers": blockers})
    alerts, health = model_alerts(model, limit=20)
    return {"obligations": obligations, "review_rows": rows, "open_alerts": alerts, "health": health}

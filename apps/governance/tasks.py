from celery import shared_task

from apps.governance import services


@shared_task(name="governance.refresh_due")
def refresh_due() -> int:
    """Every few minutes: recompute the states time alone changed (a cadence lapsed, an assessment or acceptance
    fell due, a policy was published)."""
    return services.governance_refresh_due()

from celery import shared_task

from apps.risk import services


@shared_task(name="risk.mark_overdue_reassessments")
def mark_overdue_reassessments() -> int:
    """Daily: flag overdue risk assessments and notify each accountable owner once."""
    return services.mark_overdue_and_notify()

"""Celery tasks of the MLflow integration: thin; each run is claimed once (queued -> running)."""

from celery import shared_task

from apps.integrations import services


@shared_task(name="integrations.run_sync", acks_late=True)
def run_sync(run_id: int) -> bool:
    """An on-demand sync queued from the page or the API."""
    return services.sync_execute(run_id=run_id) is not None


@shared_task(name="integrations.sync_all")
def sync_all() -> int:
    """On the schedule (``PORTAL_MLFLOW_SYNC_MINUTES``): every enabled server, resuming unfinished passes."""
    return services.sync_due()

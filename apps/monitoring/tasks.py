"""Celery tasks of the monitoring app: thin, idempotent, retried with backoff on transient errors."""

import logging
from datetime import datetime

from celery import shared_task
from celery.signals import worker_init, worker_process_init
from django.db import OperationalError

from apps.monitoring import services, uploads

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.compute_evaluation", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=8)
def compute_evaluation(evaluation_id: int) -> bool:
    computed = services.evaluation_compute(evaluation_id=evaluation_id)
    if computed:
        services.windows_refresh_for(evaluation_id=evaluation_id)  # late labels change the windows too
    return computed


@shared_task(name="monitoring.explain_evaluation", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=8)
def explain_evaluation(evaluation_id: int) -> bool:
    """After ``done``: the surrogate explanation of an evaluation's outputs, off the path from upload to done."""
    return services.evaluation_explain(evaluation_id=evaluation_id)


@shared_task(name="monitoring.compute_due_windows", acks_late=True)
def compute_due_windows() -> int:
    """Nightly: one ``compute_version_windows`` task per production version, spread over the heavy queue's workers."""
    return services.windows_fan_out()


@shared_task(name="monitoring.compute_version_windows", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=8)
def compute_version_windows(version_id: int, now: str) -> int:
    """Per production model, at its tier's cadence: metric windows over the production results so far."""
    return services.version_windows_task(version_id=version_id, now=datetime.fromisoformat(now))


@shared_task(name="monitoring.requeue_stale")
def requeue_stale() -> int:
    """The outbox sweep: evaluations that never reached the broker or whose worker died, and uploads whose
    assembling or following worker died."""
    return services.requeue_stale() + uploads.requeue_stale_uploads()


@shared_task(name="monitoring.assemble_upload", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=8)
def assemble_upload(session_id: str) -> bool:
    """A completed upload's parts become one file, checked and ingested (monitoring/uploads.py)."""
    return uploads.upload_assemble(session_id=session_id)


@shared_task(name="monitoring.follow_upload", acks_late=False)  # lost, it costs only time: the assembly does it
def follow_upload(session_id: str) -> bool:
    """An upload's file checked while its parts arrive (monitoring/uploads.py, ``upload_follow``)."""
    return uploads.upload_follow(session_id=session_id)


@shared_task(name="monitoring.expire_uploads")
def expire_uploads() -> int:
    """Hourly: delete the parts of uploads left open past their expiry; resend lost assemblies."""
    return uploads.uploads_expire()


@worker_init.connect
@worker_process_init.connect
def sweep_scratch_on_start(**_) -> None:
    """A worker starting, and each of its pool processes (a pool process replacing one that was killed, mid-check
    perhaps), deletes the check folders killed workers left in this machine's temporary folder: the hourly sweep runs
    on whichever machine takes it, and these folders are on the machine that checked (``uploads.sweep_scratch``)."""
    try:
        uploads.sweep_scratch()
    except Exception:  # noqa: BLE001 - a sweep never stops a worker from starting
        logger.exception("the sweep of check folders failed")

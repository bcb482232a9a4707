import logging
from datetime import timedelta

from celery import shared_task

from apps.core import services, storage

logger = logging.getLogger(__name__)
# A .partial file nothing has written to for this long belongs to a process that died mid-write.
PARTIAL_IDLE = timedelta(hours=1)


@shared_task(name="core.verify_audit_chain")
def verify_audit_chain() -> bool:
    """Nightly check of the audit hash chain; the outcome is stored as an AuditVerification row."""
    return services.audit_verify(triggered_by="task").ok


@shared_task(name="core.audit_checkpoint")
def audit_checkpoint() -> None:
    """Anchor the chain's head outside the database (every PORTAL_AUDIT_CHECKPOINT_MINUTES); idle when no event came."""
    services.audit_checkpoint(triggered_by="task", only_if_moved=True)


@shared_task(name="core.sweep_storage")
def sweep_storage() -> int:
    """Daily: delete what writes interrupted by a crash left beside stored files (``storage.sweep_partials``)."""
    deleted = storage.sweep_partials(idle=PARTIAL_IDLE)
    if deleted:
        logger.warning("deleted %d files left by interrupted writes: %s", len(deleted), ", ".join(deleted[:20]))
    return len(deleted)

from celery import shared_task

from apps.core import services


@shared_task(name="core.verify_audit_chain")
def verify_audit_chain() -> bool:
    """Nightly check of the audit hash chain; the outcome is stored as an AuditVerification row."""
    return services.audit_verify(triggered_by="task").ok


@shared_task(name="core.audit_checkpoint")
def audit_checkpoint() -> None:
    """Anchor the chain's head outside the database (every PORTAL_AUDIT_CHECKPOINT_MINUTES); idle when no event came."""
    services.audit_checkpoint(triggered_by="task", only_if_moved=True)

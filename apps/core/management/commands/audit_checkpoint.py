from django.core.management.base import BaseCommand

from apps.core.services import audit_checkpoint


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head now and append the checkpoint to PORTAL_AUDIT_CHECKPOINT_FILE and the "
        "portal.audit.checkpoint log (the beat task does this every PORTAL_AUDIT_CHECKPOINT_MINUTES)."
    )

    def handle(self, *args, **options):
        checkpoint = audit_checkpoint(triggered_by="command")
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {checkpoint.describe()}: event seq={checkpoint.seq}, hash {checkpoint.head}."
        ))

from django.core.management.base import BaseCommand, CommandError

from apps.core.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exit non-zero and name the first bad event if it was tampered with."

    def handle(self, *args, **options):
        report = audit_verify(triggered_by="command")
        if not report.ok:
            raise CommandError(str(report))
        self.stdout.write(self.style.SUCCESS(str(report)))

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.services import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain against the signed checkpoints; exit non-zero and say what was "
        "tampered with (the first bad event, events deleted from the end, altered or deleted checkpoints, "
        "deleted verification results). Every check ends by writing a new checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--shipped", action="append", default=[], type=Path, metavar="LOG",
            help="A copy of the checkpoint log kept off this host (the shipped portal.audit.checkpoint log lines "
                 "or a copy of the checkpoint file); repeatable. Its checkpoints vouch for the trail too, and any "
                 "missing from the local file are reported.",
        )

    def handle(self, *args, **options):
        for path in options["shipped"]:
            if not path.is_file():
                raise CommandError(f"--shipped {path}: no such file.")
        report = audit_verify(triggered_by="command", shipped=options["shipped"])
        if not report.ok:
            raise CommandError(str(report))
        self.stdout.write(self.style.SUCCESS(str(report)))

"""Recompute every model's governance state and report any stored state that differs from a fresh computation."""

from django.core.management.base import BaseCommand, CommandError

from apps.governance.services import governance_verify


class Command(BaseCommand):
    help = ("Recompute every model's and version's governance state and compare it with the stored one "
            "(status, health, approval, tier, reasons). Exits 1 on any difference; --fix stores the fresh state.")

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Store the fresh state where it differs (audited).")

    def handle(self, *args, fix: bool = False, **options):
        differences = governance_verify(fix=fix)
        for d in differences:
            self.stdout.write(f"{d.object}: {d.field} stored {d.stored!r}, fresh {d.fresh!r}")
        if differences and not fix:
            raise CommandError(f"{len(differences)} stored governance values differ from a fresh computation; "
                               "run with --fix to store the fresh ones.")
        if differences:
            self.stdout.write(self.style.WARNING(f"Fixed {len(differences)} stored values."))
        else:
            self.stdout.write(self.style.SUCCESS("Every stored governance state equals a fresh computation."))

"""Store the red flags and dashboard tallies of every stored governance state that lacks them (or of all)."""

from django.core.management.base import BaseCommand

from apps.governance import figures
from apps.inventory.models import ModelGovernance


class Command(BaseCommand):
    help = ("Store each model's red flags and its share of the dashboard's tallies beside its stored governance "
            "state, in batches: after an upgrade to a version that stores them (the beat task does the same "
            "500 models at a time), or with --all after loading rows in bulk.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Every model, not only those without figures.")
        parser.add_argument("--batch", type=int, default=1000, help="Models per transaction (default 1000).")

    def handle(self, *args, all: bool = False, batch: int = 1000, **options):
        rows = ModelGovernance.objects.all() if all else ModelGovernance.objects.filter(tally__isnull=True)
        ids = list(rows.order_by("model_id").values_list("model_id", flat=True))
        changed = 0
        for start in range(0, len(ids), batch):
            changed += figures.store(ids[start:start + batch])
            if options["verbosity"] > 1:
                self.stdout.write(f"{min(start + batch, len(ids))} of {len(ids)}")
        self.stdout.write(self.style.SUCCESS(f"Stored the portfolio figures of {changed} of {len(ids)} models."))

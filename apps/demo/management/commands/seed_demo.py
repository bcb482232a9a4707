import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from apps.demo import compliance, findings, integrations, inventory, monitoring, reviews, risk
from apps.demo.users import DEMO_USERS, seed_users
from apps.governance.services import governance_refresh
from apps.inventory.governance import STATUS_LABELS
from apps.inventory.models import MLModel, ModelGovernance
from apps.inventory.signals import governance_deferred

# The portfolio after the users, in this order: risk and reviews complete what the inventory left
# (the inventory part already assesses and approves every version it takes live), monitoring uploads
# evaluations of live versions, compliance classifies the credit models (and monitors the one with a complete
# file), findings and incidents land on credit models, and an offline MLflow server shows a shadow promotion.
# Each ``seed(stdout=...)`` adds only what is missing.
PORTFOLIO_SEEDS = (inventory.seed, risk.seed, reviews.seed, monitoring.seed, compliance.seed, findings.seed,
                   integrations.seed)


class Command(BaseCommand):
    help = "Create the demo users and portfolio. Safe to run again: it only adds what is missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even when DJANGO_DEBUG is false (never on a real system)."
        )

    def handle(self, *args, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to create demo users with a known password while DJANGO_DEBUG is false. "
                "Use --force only on a throw-away system."
            )
        started = time.monotonic()
        created = seed_users()
        self.stdout.write(f"Demo users: {len(DEMO_USERS)} ({len(created)} new).")
        # Each model's governance state is computed once, when the seeding ends, not after each of its hundreds
        # of writes (rows the demo writes directly, such as backdated alerts, belong to models it also changes
        # through services, so they are computed then too; CI's verify_governance holds this true).
        with governance_deferred(cause="demo seeded"):
            for seed in PORTFOLIO_SEEDS:
                seed(stdout=self.stdout)
        governance_refresh(model_ids=MLModel.objects.filter(governance__isnull=True).values_list("pk", flat=True),
                           cause="demo seeded")
        compliance.seed_documents(stdout=self.stdout)
        counts = dict(ModelGovernance.objects.values_list("status").annotate(n=Count("pk")))
        self.stdout.write("Governance: " + ", ".join(f"{counts.get(status, 0)} {label.lower()}"
                                                     for status, label in STATUS_LABELS.items()) + ".")
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.1f}s."))

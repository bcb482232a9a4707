import importlib
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import DEMO_USERS, seed_users

# Each domain app may ship apps/<app>/demo.py with a ``seed(stdout)`` function.
DEMO_APPS = ("inventory", "risk", "reviews", "monitoring")


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
        for app in DEMO_APPS:
            try:
                module = importlib.import_module(f"apps.{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"apps.{app}.demo":
                    raise
                continue
            module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.1f}s."))

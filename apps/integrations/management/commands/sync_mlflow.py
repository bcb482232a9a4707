from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import DomainError
from apps.integrations import services
from apps.integrations.models import MlflowServer


class Command(BaseCommand):
    help = "Sync MLflow servers now, in this process (every enabled one, or those named), and print each run."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Server names (default: every enabled server).")
        parser.add_argument("--max-pages", type=int, default=None,
                            help="Stop after this many pages of registered models; the next sync resumes.")

    def handle(self, *args, names, max_pages, **options):
        servers = MlflowServer.objects.filter(name__in=names) if names else MlflowServer.objects.filter(enabled=True)
        found = list(servers.order_by("name"))
        missing = set(names) - {s.name for s in found}
        if missing:
            connected = ", ".join(MlflowServer.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No MLflow server named {', '.join(sorted(missing))}; connected: {connected}.")
        failed = False
        for server in found:
            try:
                run = services.sync_now(actor=None, server=server, max_pages=max_pages)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            counts = ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "nothing"
            self.stdout.write(f"{server}: {run.get_status_display()} ({counts})")
            for error in run.errors:
                self.stderr.write(f"  {error}")
            failed |= run.status == run.Status.FAILED
        if failed:
            raise CommandError("A sync failed; see the errors above.")

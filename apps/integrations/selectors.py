"""Reads of the MLflow integration."""

from django.db.models import Count, Q

from apps.integrations.models import MlflowServer, SyncConflict, SyncRun


def servers():
    open_conflicts = Count("conflicts", filter=Q(conflicts__resolved_at__isnull=True), distinct=True)
    return (MlflowServer.objects.select_related("team", "owner").annotate(open_conflicts=open_conflicts)
            .order_by("name", "pk"))


def last_run(server: MlflowServer) -> SyncRun | None:
    return server.runs.order_by("-created_at", "-pk").first()


def runs(*, server: MlflowServer | None = None):
    queryset = SyncRun.objects.select_related("server", "requested_by")
    return queryset.filter(server=server) if server is not None else queryset


def open_conflicts(server: MlflowServer):
    return (SyncConflict.objects.filter(server=server, resolved_at__isnull=True)
            .select_related("version", "version__model").order_by("-last_seen_at", "-pk"))

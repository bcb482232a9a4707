"""Who may use the MLflow integration: admins only (servers hold credentials and bring models into every team)."""

from tests.integrations.factories import MlflowServerFactory, SyncRunFactory

ADMINS = frozenset({"admin"})


def server_kwargs():
    return {"pk": MlflowServerFactory().pk}


def run_kwargs():
    return {"pk": SyncRunFactory().pk}


MATRIX = {
    "integrations:servers": ("get", ADMINS, None),
    "integrations:server-create": ("get", ADMINS, None),
    "integrations:server": ("get", ADMINS, server_kwargs),
    "integrations:server-test": ("post", ADMINS, server_kwargs),
    "integrations:server-sync": ("post", ADMINS, server_kwargs),
    "integrations:server-delete": ("post", ADMINS, server_kwargs),
    "integrations:run": ("get", ADMINS, run_kwargs),
    "mlflow-server-list": ("get", ADMINS, None),
    "mlflow-server-detail": ("get", ADMINS, server_kwargs),
    "mlflow-server-sync": ("post", ADMINS, server_kwargs),
    "mlflow-server-test": ("post", ADMINS, server_kwargs),
    "mlflow-server-conflicts": ("get", ADMINS, server_kwargs),
    "mlflow-sync-run-list": ("get", ADMINS, None),
    "mlflow-sync-run-detail": ("get", ADMINS, run_kwargs),
}
# The create form's POST without fields: 400 for admins, past the access check.
WRITES = {"integrations:server-create": {"post": ADMINS},
          "mlflow-server-list": {"post": ADMINS}, "mlflow-server-detail": {"delete": ADMINS}}
ANY_TEAM: dict = {}

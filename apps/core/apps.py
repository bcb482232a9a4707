from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    from apps.core.roles import sync_role_permissions

    sync_role_permissions()


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core: roles and audit trail"

    def ready(self) -> None:
        from apps.core import checks  # noqa: F401 (registers the system checks)

        post_migrate.connect(_sync_roles, dispatch_uid="core.sync_roles")

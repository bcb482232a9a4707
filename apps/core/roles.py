"""Roles are Django groups. This module is the one place that says what each may do.

Views declare which roles may use them (``allowed_roles``); the Django admin and
the API's model permissions use the permissions that ``sync_role_permissions``
grants each group from ``ROLE_PERMISSIONS``.
"""

from enum import StrEnum

PORTAL_APPS = ("core", "inventory", "risk", "reviews", "monitoring", "notifications")


class Role(StrEnum):
    EXECUTIVE = "executive"
    REVIEWER = "reviewer"
    DATA_SCIENTIST = "data_scientist"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.EXECUTIVE: "Executive",
    Role.REVIEWER: "Reviewer",
    Role.DATA_SCIENTIST: "Data scientist",
    Role.ADMIN: "Administrator",
}

ALL_ROLES = frozenset(Role)
# Roles that may change governed content; executives only read.
WRITE_ROLES = frozenset({Role.REVIEWER, Role.DATA_SCIENTIST, Role.ADMIN})
ADMIN_ONLY = frozenset({Role.ADMIN})

# Extra permission codenames per role, beyond "view" on every portal model.
# Each domain app adds its own lines here as its models land.
ROLE_PERMISSIONS: dict[Role, set[str]] = {
    Role.EXECUTIVE: set(),
    Role.REVIEWER: set(),
    Role.DATA_SCIENTIST: {
        f"{verb}_{model}"
        for verb in ("add", "change")
        for model in ("businessunit", "team", "businessprocess", "dataset", "pipelinestep", "tag", "mlmodel",
                      "modelversion", "deployment")
    },
    Role.ADMIN: {"*"},
}

# Apps whose models admins manage through the Django admin besides the portal's.
ADMIN_EXTRA_APPS = ("auth", "django_celery_beat")
NEVER_GRANTED = {"change_auditevent", "delete_auditevent", "add_auditevent"}


def user_roles(user) -> frozenset[Role]:
    """The roles of ``user``, cached on the instance for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = ALL_ROLES
        else:
            names = set(user.groups.values_list("name", flat=True))
            cached = frozenset(role for role in Role if role.value in names)
        user._portal_roles = cached
    return cached


def has_role(user, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def sync_role_permissions(apps=None) -> None:
    """Create the four groups and grant each the permissions it should hold.

    Runs from a data migration and again after every ``migrate`` (post_migrate),
    so models added by later migrations get their permissions too.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    portal = Permission.objects.filter(content_type__app_label__in=PORTAL_APPS).exclude(
        codename__in=NEVER_GRANTED
    )
    viewing = portal.filter(codename__startswith="view_")
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        extra = ROLE_PERMISSIONS[role]
        if "*" in extra:
            admin_extra = Permission.objects.filter(content_type__app_label__in=ADMIN_EXTRA_APPS)
            wanted = set(portal) | set(admin_extra)
        else:
            wanted = set(viewing) | set(portal.filter(codename__in=extra))
        group.permissions.set(wanted)

"""Roles are Django groups. This module is the one place that says what each may do.

Views declare which roles may use them (``allowed_roles``); the Django admin and
the API's model permissions use the permissions that ``sync_role_permissions``
grants each group from ``ROLE_PERMISSIONS``.
"""

from enum import StrEnum

from django.db.models import Q

from apps.core.errors import PermissionDeniedError

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


# --- The object matrix: writes to a model --------------------------------------------------------------
#
#                   model of a team they belong to,       another team's model
#                   or a model they own (accountable
#                   or technical owner)
# admin             write                                 write
# data scientist    write                                 read only
# reviewer          read only (reviewers decide reviews)  read only
# executive         read only                             read only
#
# "Write" covers the model itself (fields, owners, team, tags), its versions (create, update, stage,
# retire), their deployments, evaluations and reference data, opening, answering and submitting a review
# of a version. Risk-assessment drafts, mitigations and reviewer assignments are open to reviewers and
# admins on every model (oversight) and to data scientists on their team's. Reads stay portfolio-wide.
# A new model goes only into a team its registrant belongs to (admins: any team).
MODEL_WRITE_ROLES = frozenset({Role.DATA_SCIENTIST, Role.ADMIN})
# Risk drafts, mitigations and reviewer assignments of any team's model, besides the team itself.
OVERSIGHT_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})
ANY_TEAM_ROLES = ADMIN_ONLY
# The functions below read membership and ownership through the user's reverse relations ``teams``
# (inventory.Team.members) and ``technical_models`` (inventory.MLModel.technical_owners) by name, so core
# states the rule without importing the inventory.


def can_write_in_team(user, team) -> bool:
    """May ``user`` put a model into ``team`` (register it there, or move one there)?"""
    roles = user_roles(user)
    if roles & ANY_TEAM_ROLES:
        return True
    return bool(roles & MODEL_WRITE_ROLES) and user.teams.filter(pk=team.pk).exists()


def can_write_model(user, model) -> bool:
    """May ``user`` change ``model`` (an ``inventory.MLModel``) and what hangs off it? See the matrix above.

    Costs no query for admins, other roles and the accountable owner, one query otherwise.
    """
    roles = user_roles(user)
    if roles & ANY_TEAM_ROLES:
        return True
    if not roles & MODEL_WRITE_ROLES:
        return False
    if model.accountable_owner_id == user.pk:
        return True
    return user._meta.default_manager.filter(
        Q(teams=model.team_id) | Q(technical_models=model.pk), pk=user.pk).exists()


def require_model_write(user, model) -> None:
    """Raise PermissionDeniedError, naming whose model it is and whom to ask, unless ``can_write_model``."""
    if can_write_model(user, model):
        return
    if not user_roles(user) & MODEL_WRITE_ROLES:
        raise PermissionDeniedError("Your role can read models but not change them. Ask a data scientist of "
                                    "the model's team or an administrator.")
    owner = model.accountable_owner
    raise PermissionDeniedError(
        f"{model} belongs to the team {model.team}; its accountable owner is "
        f"{owner.get_full_name() or owner.get_username()} ({owner.get_username()}). Only the team's members, "
        "the model's owners and admins change it: ask one of them, or ask an admin to add you to the team.")


def require_model_write_or_oversight(user, model) -> None:
    """Reviewers and admins oversee every team's models (they assess risk and arrange reviews across teams);
    a data scientist does so only for models they may write (``require_model_write``)."""
    if user_roles(user) & OVERSIGHT_ROLES:
        return
    require_model_write(user, model)


def require_team_write(user, team) -> None:
    if not can_write_in_team(user, team):
        raise PermissionDeniedError(
            f"You are not a member of the team {team}, so you cannot put a model into it. Choose one of your "
            "own teams, or ask an admin to add you to this one.", field="team")


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

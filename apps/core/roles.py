"""Roles are Django groups. This module is the one place that says what each may do.

``CAPABILITIES`` maps each ``Capability`` to the roles that hold it and, for capabilities exercised on one
object (a model, a review), the rule that object adds (team membership, ownership, oversight). Code asks
``may(user, capability, obj)`` or ``require(...)``; pages declare ``capability`` (``RoleRequiredMixin``), API
views ``read_capability`` and ``write_capability`` (``RolePermission``). No other module lists roles. The
Django admin and the API's model permissions use the permissions that ``sync_role_permissions`` grants each
group from ``ROLE_PERMISSIONS``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Q

from apps.core.errors import PermissionDeniedError

PORTAL_APPS = ("core", "inventory", "risk", "reviews", "monitoring", "notifications", "compliance", "findings")


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


class Capability(StrEnum):
    """Something a person may do in the portal. ``CAPABILITIES`` says who holds each."""

    VIEW_PORTFOLIO = "view_portfolio"
    CHANGE_CONTENT = "change_content"
    EDIT_INVENTORY = "edit_inventory"
    REGISTER_MODEL = "register_model"
    EDIT_MODEL = "edit_model"
    WRITE_ANY_TEAM = "write_any_team"
    UPLOAD_EVALUATION = "upload_evaluation"
    COMPARE_VERSIONS = "compare_versions"
    TRIAGE_ALERT = "triage_alert"
    DRAFT_ASSESSMENT = "draft_assessment"
    UPDATE_MITIGATION = "update_mitigation"
    OVERSEE_MODELS = "oversee_models"
    SUBMIT_ASSESSMENT = "submit_assessment"
    ACCEPT_RISK = "accept_risk"
    PUBLISH_POLICY = "publish_policy"
    OPEN_REVIEW = "open_review"
    WITHDRAW_REVIEW = "withdraw_review"
    WITHDRAW_ANY_REVIEW = "withdraw_any_review"
    ASSIGN_REVIEWER = "assign_reviewer"
    DECIDE_REVIEW = "decide_review"
    ACKNOWLEDGE_REVIEW = "acknowledge_review"
    OVERRIDE_GATE = "override_gate"
    CLASSIFY_MODEL = "classify_model"
    PROPOSE_USE_CASE = "propose_use_case"
    DECIDE_USE_CASE = "decide_use_case"
    EDIT_FRAMEWORKS = "edit_frameworks"
    GENERATE_DOCUMENT = "generate_document"
    RAISE_FINDING = "raise_finding"
    REMEDIATE_FINDING = "remediate_finding"
    CLOSE_FINDING = "close_finding"
    RECORD_INCIDENT = "record_incident"
    CLOSE_INCIDENT = "close_incident"
    MANAGE_USERS = "manage_users"
    MANAGE_WEBHOOKS = "manage_webhooks"
    MANAGE_INTEGRATIONS = "manage_integrations"


def roles_with(capability: Capability) -> frozenset[Role]:
    return CAPABILITIES[capability].roles


def may(user, capability: Capability, obj=None) -> bool:
    """Does ``user`` hold ``capability``, and (given ``obj``) may they exercise it on that object?"""
    try:
        require(user, capability, obj)
    except PermissionDeniedError:
        return False
    return True


def require(user, capability: Capability, obj=None, *, message: str = "") -> None:
    """Raise PermissionDeniedError unless ``may(user, capability, obj)``.

    A role without the capability is refused with ``message`` (or the capability's own refusal); a role
    with it but not on ``obj`` with the object rule's message, which names whom to ask.
    """
    grant = CAPABILITIES[capability]
    if obj is not None and grant.rule is not None and grant.rule_alone:
        grant.rule(user, obj)
        return
    if not user_roles(user) & grant.roles:
        raise PermissionDeniedError(message or grant.refusal)
    if obj is not None and grant.rule is not None:
        grant.rule(user, obj)


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
# The functions below read membership and ownership through the user's reverse relations ``teams``
# (inventory.Team.members) and ``technical_models`` (inventory.MLModel.technical_owners) by name, so core
# states the rule without importing the inventory.


def can_write_in_team(user, team) -> bool:
    """May ``user`` put a model into ``team`` (register it there, or move one there)?"""
    if may(user, Capability.WRITE_ANY_TEAM):
        return True
    return may(user, Capability.EDIT_MODEL) and user.teams.filter(pk=team.pk).exists()


def can_write_model(user, model) -> bool:
    """May ``user`` change ``model`` (an ``inventory.MLModel``) and what hangs off it? See the matrix above.

    Costs no query for admins, other roles and the accountable owner, one query otherwise.
    """
    if may(user, Capability.WRITE_ANY_TEAM):
        return True
    if not may(user, Capability.EDIT_MODEL):
        return False
    if model.accountable_owner_id == user.pk:
        return True
    return user._meta.default_manager.filter(
        Q(teams=model.team_id) | Q(technical_models=model.pk), pk=user.pk).exists()


def require_model_write(user, model) -> None:
    """Raise PermissionDeniedError, naming whose model it is and whom to ask, unless ``can_write_model``."""
    if can_write_model(user, model):
        return
    require(user, Capability.EDIT_MODEL)
    owner = model.accountable_owner
    raise PermissionDeniedError(
        f"{model} belongs to the team {model.team}; its accountable owner is "
        f"{owner.get_full_name() or owner.get_username()} ({owner.get_username()}). Only the team's members, "
        "the model's owners and admins change it: ask one of them, or ask an admin to add you to the team.")


def require_model_write_or_oversight(user, model) -> None:
    """Reviewers and admins oversee every team's models (they assess risk and arrange reviews across teams);
    a data scientist does so only for models they may write (``require_model_write``)."""
    if may(user, Capability.OVERSEE_MODELS):
        return
    require_model_write(user, model)


def require_team_write(user, team) -> None:
    if not can_write_in_team(user, team):
        raise PermissionDeniedError(
            f"You are not a member of the team {team}, so you cannot put a model into it. Choose one of your "
            "own teams, or ask an admin to add you to this one.", field="team")


WITHDRAW_REFUSAL = "Only the person who opened or submitted the review (or an admin) withdraws it."


def _require_review_opener(user, review) -> None:
    if user.pk not in {review.created_by_id, review.submitted_by_id} and not may(
            user, Capability.WITHDRAW_ANY_REVIEW):
        raise PermissionDeniedError(WITHDRAW_REFUSAL)


def _require_accountable_owner(user, review) -> None:
    if user.pk != review.version.model.accountable_owner_id:
        raise PermissionDeniedError("Only the model's accountable owner can acknowledge responsibility.")


def _require_use_case_proposer(user, use_case) -> None:
    """A proposal (compliance.UseCase) is edited, submitted and withdrawn by whoever proposed it, or an admin."""
    if user.pk != use_case.proposed_by_id and not may(user, Capability.WRITE_ANY_TEAM):
        raise PermissionDeniedError("Only the person who proposed this use case (or an admin) changes it.")
def _require_finding_remediator(user, finding) -> None:
    """The finding's owner, the model's team and admins remediate it (``finding.version.model``)."""
    if user.pk == finding.owner_id or can_write_model(user, finding.version.model):
        return
    owner, model = finding.owner, finding.version.model
    raise PermissionDeniedError(f"Only the finding's owner ({owner.get_full_name() or owner.get_username()}), the "
                                f"team {model.team} of {model} and admins record its remediation; ask one of them.")


def _require_not_finding_owner(user, finding) -> None:
    if user.pk == finding.owner_id:
        raise PermissionDeniedError("Four-eyes rule: you remediate this finding, so someone else (a reviewer or an "
                                    "admin) must check the fix and close it.")


@dataclass(frozen=True)
class Grant:
    """The roles holding a capability, what a role without it is told, and the rule ``obj`` adds (raises
    PermissionDeniedError with a message naming whom to ask). With ``rule_alone`` the rule alone decides on
    an object, whatever the person's roles: ``roles`` then only says who reaches the page or endpoint."""

    roles: frozenset[Role]
    refusal: str
    rule: Callable[[object, object], None] | None = None
    rule_alone: bool = False


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


REVIEWER, SCIENTIST, ADMIN = Role.REVIEWER, Role.DATA_SCIENTIST, Role.ADMIN

# Who may do what, once. Executives read; data scientists change their team's models and what hangs off
# them; reviewers assess risk and decide reviews across teams; admins do everything.
CAPABILITIES: dict[Capability, Grant] = {
    Capability.VIEW_PORTFOLIO: Grant(
        ALL_ROLES, "Your account has no role yet, so it cannot use this page. Ask an administrator for one."),
    # Changes anything at all; the menu offers these the API (executives read it through the pages).
    Capability.CHANGE_CONTENT: Grant(_roles(REVIEWER, SCIENTIST, ADMIN), "Your role only reads the portal."),
    # Business units, teams, processes, data sets, pipeline steps, CSV imports.
    Capability.EDIT_INVENTORY: Grant(
        _roles(SCIENTIST, ADMIN), "Only data scientists and admins can change the inventory."),
    Capability.REGISTER_MODEL: Grant(
        _roles(SCIENTIST, ADMIN), "Only data scientists and admins register models."),
    # A model and its versions, deployments and stages: its team's, its owners' and admins'.
    Capability.EDIT_MODEL: Grant(
        _roles(SCIENTIST, ADMIN), "Your role can read models but not change them. Ask a data scientist of "
        "the model's team or an administrator.", require_model_write),
    # Any team's models and data sets, and putting a model into any team.
    Capability.WRITE_ANY_TEAM: Grant(_roles(ADMIN), "Only admins change every team's models."),
    # Evaluations and reference data raise a model's alerts and are evidence in its reviews: model writes.
    Capability.UPLOAD_EVALUATION: Grant(
        _roles(SCIENTIST, ADMIN), "Only data scientists and admins upload evaluations.", require_model_write),
    Capability.COMPARE_VERSIONS: Grant(
        _roles(SCIENTIST, ADMIN), "Only data scientists and admins compare versions with uploaded predictions."),
    # Alert triage is open to everyone on call, whichever team owns the model.
    Capability.TRIAGE_ALERT: Grant(_roles(SCIENTIST, REVIEWER, ADMIN), "Your role cannot change alerts."),
    Capability.DRAFT_ASSESSMENT: Grant(
        _roles(REVIEWER, SCIENTIST, ADMIN), "Your role cannot draft risk assessments.",
        require_model_write_or_oversight),
    Capability.UPDATE_MITIGATION: Grant(
        _roles(REVIEWER, SCIENTIST, ADMIN), "Your role cannot update mitigations.",
        require_model_write_or_oversight),
    # Risk drafts, mitigations and reviewer assignments of every team's model, besides the team's own.
    Capability.OVERSEE_MODELS: Grant(_roles(REVIEWER, ADMIN), "Only reviewers and admins oversee every model."),
    Capability.SUBMIT_ASSESSMENT: Grant(
        _roles(REVIEWER, ADMIN), "Your role cannot submit risk assessments (reviewers do)."),
    Capability.ACCEPT_RISK: Grant(_roles(REVIEWER, ADMIN), "Only reviewers and admins accept a risk."),
    # Governance policies and the risk matrix.
    Capability.PUBLISH_POLICY: Grant(
        _roles(ADMIN), "Your role cannot change governance policies or the risk matrix (admins do)."),
    # Open, answer and submit a review round of a version: the model's team writes that evidence.
    Capability.OPEN_REVIEW: Grant(
        _roles(SCIENTIST, ADMIN), "Data scientists and admins open reviews of their versions.",
        require_model_write),
    Capability.WITHDRAW_REVIEW: Grant(_roles(SCIENTIST, ADMIN), WITHDRAW_REFUSAL, _require_review_opener),
    Capability.WITHDRAW_ANY_REVIEW: Grant(_roles(ADMIN), WITHDRAW_REFUSAL),
    Capability.ASSIGN_REVIEWER: Grant(
        _roles(SCIENTIST, REVIEWER, ADMIN), "Your role cannot assign reviewers.", require_model_write_or_oversight),
    Capability.DECIDE_REVIEW: Grant(_roles(REVIEWER, ADMIN), "Only reviewers decide on reviews."),
    # Every role reaches the form; only the model's accountable owner acknowledges, whatever their role.
    Capability.ACKNOWLEDGE_REVIEW: Grant(
        ALL_ROLES, "Only the model's accountable owner can acknowledge responsibility.", _require_accountable_owner,
        rule_alone=True),
    Capability.OVERRIDE_GATE: Grant(_roles(ADMIN), "Only an admin can override the production gate."),
    # A model's regulatory classification (EU AI Act category, Annex III area, role): its team writes it,
    # reviewers and admins oversee every team's.
    Capability.CLASSIFY_MODEL: Grant(
        _roles(REVIEWER, SCIENTIST, ADMIN), "Your role cannot classify models.", require_model_write_or_oversight),
    # Use-case intake: a proposed use of AI, before any model exists; decided by someone else (four-eyes).
    Capability.PROPOSE_USE_CASE: Grant(
        _roles(SCIENTIST, ADMIN), "Only data scientists and admins propose use cases.", _require_use_case_proposer),
    Capability.DECIDE_USE_CASE: Grant(
        _roles(REVIEWER, ADMIN), "Only reviewers and admins approve or decline a proposed use case."),
    # Annex IV documentation and validation reports of a version, and attaching them to its reviews: the model's
    # team, and reviewers and admins for every team's (validators write validation reports).
    Capability.GENERATE_DOCUMENT: Grant(
        _roles(REVIEWER, SCIENTIST, ADMIN), "Your role reads generated documents but cannot generate them.",
        require_model_write_or_oversight),
    # The frameworks, their versions and controls (through the Django admin).
    Capability.EDIT_FRAMEWORKS: Grant(_roles(ADMIN), "Only admins change the frameworks and their controls."),
    # Validation findings: reviewers raise and close them (never the finding's owner, who remediates), the owner
    # and the model's team record the remediation.
    Capability.RAISE_FINDING: Grant(_roles(REVIEWER, ADMIN), "Only reviewers and admins raise validation findings."),
    Capability.REMEDIATE_FINDING: Grant(
        _roles(SCIENTIST, REVIEWER, ADMIN), "Your role cannot record a finding's remediation.",
        _require_finding_remediator),
    Capability.CLOSE_FINDING: Grant(
        _roles(REVIEWER, ADMIN), "Only reviewers and admins close findings.", _require_not_finding_owner),
    # Incidents: whoever runs or oversees the model records one and its timeline; reviewers and admins close it.
    Capability.RECORD_INCIDENT: Grant(
        _roles(SCIENTIST, REVIEWER, ADMIN), "Your role cannot record incidents.", require_model_write_or_oversight),
    Capability.CLOSE_INCIDENT: Grant(_roles(REVIEWER, ADMIN), "Only reviewers and admins close incidents."),
    # Who belongs to a team, other people's API tokens, the Django admin.
    Capability.MANAGE_USERS: Grant(_roles(ADMIN), "Only admins manage people, their teams and their tokens."),
    # Outgoing webhooks carry every model's events to outside systems, and their delivery log.
    Capability.MANAGE_WEBHOOKS: Grant(_roles(ADMIN), "Only admins manage webhooks."),
    # MLflow servers hold credentials and bring models into every team's inventory.
    Capability.MANAGE_INTEGRATIONS: Grant(_roles(ADMIN), "Only admins connect and sync MLflow servers."),
}


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

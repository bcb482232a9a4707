from apps.core.navigation import navigation_for
from apps.core.roles import Capability, may, user_roles


class Capabilities:
    """What the signed-in person may do, for templates: ``{% if portal_may.upload_evaluation %}``.

    A name that is no capability raises instead of reading as false, so a typo cannot hide a button.
    """

    def __init__(self, user):
        self.user = user

    def __getitem__(self, name: str) -> bool:
        if name not in Capability.__members__.values():
            raise LookupError(f"{name!r} is not a capability (apps.core.roles.Capability).")
        return may(self.user, Capability(name))


def portal(request):
    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else frozenset()
    return {
        "portal_roles": sorted(role.value for role in roles),
        "portal_may": Capabilities(user),
        "portal_role_labels": [role.label for role in sorted(roles)],
        "portal_nav": navigation_for(request) if roles else [],
    }

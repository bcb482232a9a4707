from apps.core.navigation import navigation_for
from apps.core.roles import user_roles


def portal(request):
    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else frozenset()
    return {
        "portal_roles": sorted(role.value for role in roles),
        "portal_role_labels": [role.label for role in sorted(roles)],
        "portal_nav": navigation_for(request) if roles else [],
    }

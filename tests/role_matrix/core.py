from apps.core.services import audit_record
from tests.role_matrix import EVERYONE, PUBLIC

# The password page serves every signed-in person, also one an administrator has not given a role yet.
SIGNED_IN = EVERYONE | {"no_role"}


def audit_event_kwargs():
    return {"pk": audit_record(actor=None, action="probe", object_type="x.y", object_id="1").pk}


MATRIX = {
    "login": ("get", PUBLIC, None),
    "logout": ("post", PUBLIC, None),
    # Single sign-on: with it off (as here) both send the visitor back to the login page.
    "oidc-start": ("get", PUBLIC, None),
    "oidc-callback": ("get", PUBLIC, None),
    # Said to a person whose groups map to no role; others are sent to the home page.
    "sso-no-role": ("get", SIGNED_IN, None),
    "core:healthz": ("get", PUBLIC, None),
    "core:favicon": ("get", PUBLIC, None),
    "core:home": ("get", EVERYONE, None),
    "core:audit": ("get", EVERYONE, None),
    "core:account": ("get", EVERYONE, None),
    "core:api-token-create": ("post", EVERYONE, None),
    # Without a token in the body: 400, past the access check.
    "core:api-token-revoke": ("post", EVERYONE, None),
    "core:password-change": ("get", SIGNED_IN, None),
    "api-me": ("get", EVERYONE, None),
    "audit-event-list": ("get", EVERYONE, None),
    "audit-event-detail": ("get", EVERYONE, audit_event_kwargs),
    "api-schema": ("get", EVERYONE, None),
    "api-docs": ("get", EVERYONE, None),
}

# The login form is posted by anonymous visitors.
WRITES = {"login": {"post": PUBLIC}, "core:password-change": {"post": SIGNED_IN}}

ANY_TEAM = {
    "core:api-token-create": "a person's own token",
    "core:api-token-revoke": "a person's own token",
    "core:password-change": "a person's own password",
}

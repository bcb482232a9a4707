from apps.core.services import audit_record
from tests.role_matrix import EVERYONE, PUBLIC


def audit_event_kwargs():
    return {"pk": audit_record(actor=None, action="probe", object_type="x.y", object_id="1").pk}


MATRIX = {
    "login": ("get", PUBLIC, None),
    "logout": ("post", PUBLIC, None),
    "core:healthz": ("get", PUBLIC, None),
    "core:favicon": ("get", PUBLIC, None),
    "core:home": ("get", EVERYONE, None),
    "core:audit": ("get", EVERYONE, None),
    "core:account": ("get", EVERYONE, None),
    "core:api-token-rotate": ("post", EVERYONE, None),
    "api-me": ("get", EVERYONE, None),
    "audit-event-list": ("get", EVERYONE, None),
    "audit-event-detail": ("get", EVERYONE, audit_event_kwargs),
    "api-schema": ("get", EVERYONE, None),
    "api-docs": ("get", EVERYONE, None),
}

# The login form is posted by anonymous visitors.
WRITES = {"login": {"post": PUBLIC}}

ANY_TEAM = {"core:api-token-rotate": "a person's own token"}

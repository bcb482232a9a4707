"""Who may use the use-case intake pages and API.

Everyone reads; data scientists and admins propose; reviewers and admins decide (never their own or one they
own: tests/compliance/test_intake_services.py). A draft is edited, submitted and withdrawn by its proposer or an
admin: the probes' use cases were proposed by someone else, so of the roles only admins reach those URLs here;
tests/compliance/test_intake_views.py shows the proposer, a data scientist, reaching them.
"""

from tests.role_matrix import EVERYONE, WRITERS

DECIDERS = frozenset({"reviewer", "admin"})
ADMINS = frozenset({"admin"})


def draft_kwargs():
    from tests.compliance.factories import UseCaseFactory

    return {"pk": UseCaseFactory(state="draft").pk}


def submitted_kwargs():
    from tests.compliance.factories import UseCaseFactory

    return {"pk": UseCaseFactory(state="submitted").pk}


MATRIX = {
    "intake:index": ("get", EVERYONE, None),
    "intake:propose": ("get", WRITERS, None),
    "intake:detail": ("get", EVERYONE, draft_kwargs),
    "intake:edit": ("get", ADMINS, draft_kwargs),
    "intake:submit": ("post", ADMINS, draft_kwargs),
    "intake:decide": ("get", DECIDERS, submitted_kwargs),
    "intake:withdraw": ("get", ADMINS, draft_kwargs),
    "api-use-case-list": ("get", EVERYONE, None),
    "api-use-case-detail": ("get", EVERYONE, draft_kwargs),
    "api-use-case-submit": ("post", ADMINS, draft_kwargs),
    "api-use-case-decide": ("post", DECIDERS, submitted_kwargs),
    "api-use-case-withdraw": ("post", ADMINS, draft_kwargs),
}
WRITES = {
    "intake:propose": {"post": WRITERS},
    "intake:edit": {"post": ADMINS},
    "intake:decide": {"post": DECIDERS},
    "intake:withdraw": {"post": ADMINS},
    "api-use-case-list": {"post": WRITERS},
    "api-use-case-detail": {"patch": ADMINS},
}
WHY = "a proposal comes before any model or team: its proposer owns it (and may only change it while a draft)"
ANY_TEAM = {"intake:propose": WHY, "api-use-case-list": WHY}

# The capability admits data scientists on these URLs, but only for their own proposals (the object check):
# the probes' drafts belong to someone else, so the matrix above lists admins alone.
PROPOSER_ONLY = {
    ("intake:edit", "get"), ("intake:edit", "post"), ("intake:submit", "post"), ("intake:withdraw", "get"),
    ("intake:withdraw", "post"), ("api-use-case-detail", "patch"), ("api-use-case-submit", "post"),
    ("api-use-case-withdraw", "post"),
}

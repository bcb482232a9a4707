from tests.inventory.factories import MLModelFactory
from tests.role_matrix import EVERYONE, REFUSED

ADMINS = frozenset({"admin"})
DRAFTERS = frozenset({"reviewer", "data_scientist", "admin"})


def model_kwargs():
    return {"slug": MLModelFactory().slug}


def assessment_kwargs():
    from apps.risk.services import assessment_save_draft
    from tests.risk.factories import ratings

    return {"pk": assessment_save_draft(actor=None, model=MLModelFactory(), ratings=ratings()).pk}


MATRIX = {
    "risk:index": ("get", EVERYONE, None),
    "risk:register-export": ("get", EVERYONE, None),
    "risk:model": ("get", EVERYONE, model_kwargs),
    "risk:assess": ("get", DRAFTERS, model_kwargs),
    "risk:assessment-detail": ("get", EVERYONE, assessment_kwargs),
    "risk:policies": ("get", EVERYONE, None),
    "risk:policy-edit": ("get", ADMINS, lambda: {"tier": "high"}),
    "risk:matrix-edit": ("get", ADMINS, None),
}


def policy_kwargs():
    from apps.risk.models import GovernancePolicy

    return {"pk": GovernancePolicy.objects.first().pk}


REVIEWERS = frozenset({"reviewer", "admin"})

MATRIX.update({
    "risk-assessment-list": ("get", EVERYONE, None),
    "risk-assessment-detail": ("get", EVERYONE, assessment_kwargs),
    "risk-assessment-submit": ("post", REVIEWERS, assessment_kwargs),
    "governance-policy-list": ("get", EVERYONE, None),
    "governance-policy-detail": ("get", EVERYONE, policy_kwargs),
    "governance-policy-current": ("get", EVERYONE, None),
    "risk-matrix-list": ("get", EVERYONE, None),
    "risk-matrix-detail": ("get", EVERYONE, lambda: {"version": 1}),
})

# Form pages post to themselves; the API drafts assessments and publishes policies through its lists.
WRITES = {
    "risk:assess": {"post": DRAFTERS},
    "risk:policy-edit": {"post": ADMINS},
    "risk:matrix-edit": {"post": ADMINS},
    "risk-assessment-list": {"post": DRAFTERS},
    "governance-policy-list": {"post": ADMINS},
}

# A data scientist drafts assessments of their team's models; reviewers and admins of every model (oversight).
OWN_TEAM = {"risk:assess": {"post": REFUSED}, "risk-assessment-list": {"post": REFUSED}}

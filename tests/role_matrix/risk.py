from tests.inventory.factories import MLModelFactory
from tests.role_matrix import EVERYONE

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

"""The inventory API: every role reads; data scientists and admins act (the actions are probed with POST)."""

from tests.inventory.factories import (
    BusinessProcessFactory,
    BusinessUnitFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)
from tests.role_matrix import EVERYONE, REFUSED, WRITERS


def _slug_of(factory):
    return lambda: {"slug": factory().slug}


def _pk_of(factory):
    return lambda: {"pk": factory().pk}


MATRIX = {
    "business-unit-list": ("get", EVERYONE, None),
    "business-unit-detail": ("get", EVERYONE, _slug_of(BusinessUnitFactory)),
    "team-list": ("get", EVERYONE, None),
    "team-detail": ("get", EVERYONE, _slug_of(TeamFactory)),
    "business-process-list": ("get", EVERYONE, None),
    "business-process-detail": ("get", EVERYONE, _slug_of(BusinessProcessFactory)),
    "dataset-list": ("get", EVERYONE, None),
    "dataset-detail": ("get", EVERYONE, _slug_of(DataSetFactory)),
    "pipeline-step-list": ("get", EVERYONE, None),
    "pipeline-step-detail": ("get", EVERYONE, _slug_of(PipelineStepFactory)),
    "model-list": ("get", EVERYONE, None),
    "model-detail": ("get", EVERYONE, _slug_of(MLModelFactory)),
    "model-version-list": ("get", EVERYONE, None),
    "model-version-detail": ("get", EVERYONE, _pk_of(ModelVersionFactory)),
    "model-version-transition": ("post", WRITERS, _pk_of(ModelVersionFactory)),
    "deployment-list": ("get", EVERYONE, None),
    "deployment-detail": ("get", EVERYONE, _pk_of(DeploymentFactory)),
    "deployment-retire": ("post", WRITERS, _pk_of(DeploymentFactory)),
}

# Lists create (POST), details update (PATCH); nothing is replaced (PUT) or deleted.
WRITES = {
    **{name: {"post": WRITERS} for name in (
        "business-unit-list", "team-list", "business-process-list", "dataset-list", "pipeline-step-list",
        "model-list", "model-version-list", "deployment-list")},
    **{name: {"patch": WRITERS} for name in (
        "business-process-detail", "dataset-detail", "model-detail", "model-version-detail", "deployment-detail")},
}

# A model, its versions and deployments are its team's; a data set and a pipeline step's output their owner's.
OWN_TEAM = {
    **{name: {"post": REFUSED} for name in (
        "model-list", "model-version-list", "model-version-transition", "deployment-list", "deployment-retire",
        "pipeline-step-list")},
    **{name: {"patch": REFUSED} for name in (
        "model-detail", "model-version-detail", "deployment-detail", "dataset-detail")},
}
ANY_TEAM = {
    "business-unit-list": "business units are the organisation's; no team owns them",
    "team-list": "whoever creates a team is its first member",
    "business-process-list": "business processes belong to business units, which no team owns",
    "business-process-detail": "business processes belong to business units, which no team owns",
    "dataset-list": "a new data set is its registrant's; no team owns it yet",
}

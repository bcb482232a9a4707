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
from tests.role_matrix import EVERYONE, WRITERS


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

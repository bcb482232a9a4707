from tests.inventory.factories import BusinessProcessFactory, DataSetFactory, MLModelFactory, ModelVersionFactory
from tests.role_matrix import EVERYONE, REFUSED, WRITERS


def model_kwargs():
    return {"slug": MLModelFactory().slug}


def version_kwargs():
    version = ModelVersionFactory()
    return {"slug": version.model.slug, "version": version.version}


def dataset_kwargs():
    return {"slug": DataSetFactory().slug}


def process_kwargs():
    return {"slug": BusinessProcessFactory().slug}


MATRIX = {
    "inventory:index": ("get", EVERYONE, None),
    "inventory:export": ("get", EVERYONE, None),
    "inventory:model-detail": ("get", EVERYONE, model_kwargs),
    "inventory:model-create": ("get", WRITERS, None),
    "inventory:model-edit": ("get", WRITERS, model_kwargs),
    "inventory:version-detail": ("get", EVERYONE, version_kwargs),
    "inventory:version-create": ("get", WRITERS, model_kwargs),
    "inventory:deployment-create": ("get", WRITERS, version_kwargs),
    "inventory:dataset-list": ("get", EVERYONE, None),
    "inventory:dataset-detail": ("get", EVERYONE, dataset_kwargs),
    "inventory:dataset-create": ("get", WRITERS, None),
    "inventory:process-list": ("get", EVERYONE, None),
    "inventory:process-detail": ("get", EVERYONE, process_kwargs),
    "inventory:process-create": ("get", WRITERS, None),
}

# The form pages post to themselves; a version's page moves its stage.
WRITES = {name: {"post": WRITERS} for name in (
    "inventory:model-create", "inventory:model-edit", "inventory:version-detail", "inventory:version-create",
    "inventory:deployment-create", "inventory:dataset-create", "inventory:process-create")}

# The form pages that change one model; the model form offers only the user's own teams.
OWN_TEAM = {
    "inventory:model-create": {"post": 200},
    **{name: {"post": REFUSED} for name in (
        "inventory:model-edit", "inventory:version-detail", "inventory:version-create", "inventory:deployment-create")},
}
ANY_TEAM = {
    "inventory:dataset-create": "a new data set is its registrant's; no team owns it yet",
    "inventory:process-create": "business processes belong to business units, which no team owns",
}

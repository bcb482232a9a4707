from tests.inventory.factories import DeploymentFactory
from tests.role_matrix import EVERYONE


def lineage_kwargs():
    # A model with a version and a deployment, so the probe renders a real graph.
    return {"slug": DeploymentFactory().version.model.slug}


MATRIX = {
    "inventory:dashboard": ("get", EVERYONE, None),
    "inventory:lineage": ("get", EVERYONE, None),
    "inventory:model-lineage": ("get", EVERYONE, lineage_kwargs),
}

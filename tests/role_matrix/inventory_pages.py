from tests.inventory.factories import DeploymentFactory
from tests.role_matrix import EVERYONE, WRITERS


def lineage_kwargs():
    # A model with a version and a deployment, so the probe renders a real graph.
    return {"slug": DeploymentFactory().version.model.slug}


MATRIX = {
    "inventory:lineage": ("get", EVERYONE, None),
    "inventory:model-lineage": ("get", EVERYONE, lineage_kwargs),
    "inventory:import": ("get", WRITERS, None),
}

WRITES = {"inventory:import": {"post": WRITERS}}

ANY_TEAM = {"inventory:import": "rows go into new teams (the importer's) or teams the importer belongs to: the "
                                "model registration refuses the others and nothing is imported"}

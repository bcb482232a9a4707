from tests.inventory.factories import ModelVersionFactory
from tests.role_matrix import EVERYONE, WRITERS


def model_card_kwargs():
    version = ModelVersionFactory()
    return {"slug": version.model.slug, "version": version.version}


MATRIX = {
    "inventory:model-card": ("get", EVERYONE, model_card_kwargs),
    "inventory:import": ("get", WRITERS, None),
}

WRITES = {"inventory:import": {"post": WRITERS}}

ANY_TEAM = {"inventory:import": "rows go into new teams (the importer's) or teams the importer belongs to: the "
                                "model registration refuses the others and nothing is imported"}

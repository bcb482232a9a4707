from tests.inventory.factories import ModelVersionFactory
from tests.role_matrix import EVERYONE


def model_card_kwargs():
    version = ModelVersionFactory()
    return {"slug": version.model.slug, "version": version.version}


MATRIX = {
    "portfolio:dashboard": ("get", EVERYONE, None),
    "portfolio:model-card": ("get", EVERYONE, model_card_kwargs),
}

import pytest

from apps.inventory.panels import MODEL_PANELS, model_panels
from apps.portfolio.panels import governance_panels
from tests.inventory.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_the_portfolio_gives_the_model_page_its_governance_panel():
    version = ModelVersionFactory()

    context = model_panels(version.model, [version])

    assert governance_panels in MODEL_PANELS
    assert context["health"] == "healthy"
    assert context["review_rows"][0]["blockers"] == ["needs a risk assessment", "needs an approved review"]

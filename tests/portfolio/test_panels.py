import pytest

from apps.inventory.models import ModelGovernance
from apps.inventory.panels import MODEL_PANELS, model_panels
from apps.portfolio.panels import governance_panels
from tests.inventory.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_the_portfolio_gives_the_model_page_its_stored_governance_state():
    version = ModelVersionFactory()

    context = model_panels(version.model, [version])

    assert governance_panels in MODEL_PANELS
    assert context["state"] == ModelGovernance.objects.get(model=version.model)
    assert context["state"].health == "not_monitored"
    assert [reason[:30] for reason in context["review_rows"][0]["blockers"]] == [
        "It needs a risk assessment. Un", "It needs a valid responsible-A"]

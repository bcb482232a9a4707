"""What a page makes the browser download in JavaScript: the sizes of the script files it references, summed.

Every page of the role matrix is measured, as the first role that reaches it; the chart pages are measured
again with data behind them, so Plotly is really on the page.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from apps.inventory.models import Stage, Team
from tests.core.test_static import PLOTLY_BUNDLE
from tests.inventory.factories import (
    BusinessProcessFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
)
from tests.pages import is_page, page_cases, url_for

# 1.5 MB (decimal, the stricter reading of the budget): what the portal may ask a browser to parse per
# page, before gzip (which whitenoise adds in production).
BUDGET_BYTES = 1_500_000
SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"")
PAGES = [(name, roles[0] if roles else None) for name, roles in page_cases()]


def javascript_bytes(html: str) -> tuple[int, list[str]]:
    sources = SCRIPT_SRC.findall(html)
    total = 0
    for src in sources:
        assert src.startswith(settings.STATIC_URL), f"{src} is not a vendored static file"
        path = finders.find(src.removeprefix(settings.STATIC_URL))
        assert path, f"{src} is referenced but does not exist"
        total += Path(path).stat().st_size
    return total, sources


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "role"), PAGES, ids=[name for name, _ in PAGES])
def test_each_page_stays_within_the_javascript_budget(url_name, role, client_as):
    client = client_as(role)
    url = url_for(url_name)
    if role:
        client.user.teams.add(*Team.objects.all())
    response = client.get(url)
    body = "" if response.streaming else response.content.decode(errors="replace")
    if response.status_code != 200 or not is_page(response.get("Content-Type", ""), body):
        pytest.skip(f"{url_name} answers {response.status_code} {response.get('Content-Type')}, not a page")

    total, sources = javascript_bytes(body)

    assert total <= BUDGET_BYTES, f"{url_name} loads {total:,} bytes of JavaScript: {sources}"


def _chart_pages() -> dict[str, str]:
    step = PipelineStepFactory()
    model = MLModelFactory(stage=Stage.PRODUCTION)
    version = ModelVersionFactory(model=model, stage=Stage.PRODUCTION, training_datasets=[step.output])
    DeploymentFactory(version=version, business_process=BusinessProcessFactory())
    return {"dashboard": reverse("portfolio:dashboard"), "portfolio lineage": reverse("inventory:lineage"),
            "model lineage": reverse("inventory:model-lineage", kwargs={"slug": model.slug})}


@pytest.mark.django_db
def test_the_chart_pages_load_the_partial_plotly_bundle_within_the_budget(client_as):
    client = client_as("executive")
    for page, url in _chart_pages().items():
        html = client.get(url).content.decode()
        total, sources = javascript_bytes(html)
        assert f"/static/{PLOTLY_BUNDLE}" in sources, f"the {page} draws no chart: {sources}"
        assert total <= BUDGET_BYTES, f"the {page} loads {total:,} bytes of JavaScript"

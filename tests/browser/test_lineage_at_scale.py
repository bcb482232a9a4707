"""An executive reads the lineage of a 500-model portfolio in a real browser: grouped, filtered, searched, focused."""

import pytest
from django.urls import reverse

from apps.core.roles import Role
from apps.inventory.models import ModelVersion, Stage, VersionGovernance
from apps.inventory.signals import governance_deferred
from tests.browser.test_accessibility import _check, _session
from tests.browser.test_dashboard import _watch_console
from tests.browser.test_smoke import log_in
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    BusinessUnitFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNITS, PROCESSES_PER_UNIT, PIPELINES, MODELS = 5, 4, 50, 500
FIGURE = "[data-figure-id=figure-lineage]"


def _large_portfolio():
    """500 production models in 5 units, each trained on one of 50 pipelines and deployed for one of 20 processes;
    one in seven suspended. Governance is computed once at the end, as a bulk import does."""
    with governance_deferred(cause="browser test seed"):
        units = [BusinessUnitFactory(name=f"Unit {u}", slug=f"unit-{u}") for u in range(UNITS)]
        teams = [TeamFactory(business_unit=unit) for unit in units]
        processes = [[BusinessProcessFactory(business_unit=unit, name=f"{unit.name} process {p}")
                      for p in range(PROCESSES_PER_UNIT)] for unit in units]
        outputs = [PipelineStepFactory(name=f"pipeline {p}").output for p in range(PIPELINES)]
        owner = UserFactory()
        for i in range(MODELS):
            unit = i % UNITS
            model = MLModelFactory(name=f"Model {i:03d} of unit {unit}", team=teams[unit], stage=Stage.PRODUCTION,
                                   accountable_owner=owner)
            version = ModelVersionFactory(model=model, version="1.0.0", stage=Stage.PRODUCTION,
                                          training_datasets=[outputs[(i * 7) % PIPELINES]])
            DeploymentFactory(version=version, business_process=processes[unit][(i // UNITS) % PROCESSES_PER_UNIT])
    VersionGovernance.objects.filter(version__model__name__endswith="7 of unit 2").update(status="suspended")


def _visible_nodes(page) -> int:
    page.locator(f"{FIGURE} .main-svg").first.wait_for()
    return page.locator(f"{FIGURE} .scatterlayer .point").count()


def _height(page) -> int:
    return page.evaluate("() => document.documentElement.scrollHeight")


def test_an_executive_narrows_500_models_to_one_unit_finds_a_model_and_focuses_on_it(page, live_server, screenshot):
    _large_portfolio()
    UserFactory(username="exec", roles=[Role.EXECUTIVE])
    errors = _watch_console(page)
    log_in(page, live_server, "exec")
    page.wait_for_url(f"{live_server.url}/inventory/dashboard/")  # an executive's start page

    page.goto(f"{live_server.url}{reverse('inventory:lineage')}")
    assert _visible_nodes(page) == UNITS * 3  # data, models and processes of each unit
    assert _height(page) < 3000
    assert "500 models, more than 30: grouped by business unit into 15 nodes." in page.inner_text(".lineage-scope")
    screenshot(page, "lineage-500-grouped")

    page.get_by_label("Business unit").select_option("unit-2")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "business_unit=unit-2" in url)
    # Unit 2: its 4 processes, and a data and a model group for each.
    assert _visible_nodes(page) == PROCESSES_PER_UNIT * 3
    assert _height(page) < 3000
    page.get_by_text("Nodes by column").click()
    assert page.get_by_role("link", name="Unit 2 process 1: 25 models").is_visible()
    screenshot(page, "lineage-500-unit")

    page.get_by_label("Find a node").fill("Model 017")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "q=Model+017" in url)
    matches = page.get_by_role("region", name="1 node named like “Model 017”")
    assert matches.get_by_role("link", name="Model 017 of unit 2 1.0.0", exact=True).is_visible()
    assert "Suspended" in matches.inner_text()

    focus = matches.get_by_role("link", name="Focus", exact=True)
    assert focus.get_attribute("aria-describedby") == matches.get_by_role(
        "link", name="Model 017 of unit 2 1.0.0", exact=True).get_attribute("id")
    focus.click()
    page.wait_for_url(lambda url: "focus=version" in url)
    # Two steps each way: pipeline step and training data, deployment and process.
    assert _visible_nodes(page) == 5
    assert "Focused on Model 017 of unit 2 1.0.0" in page.inner_text(".lineage-scope")
    assert _height(page) < 3000
    screenshot(page, "lineage-500-focus")

    page.get_by_label("Focus depth").select_option("4")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "hops=4" in url)
    assert _visible_nodes(page) == 6  # the pipeline's own source data joins
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


def test_the_grouped_and_focused_views_pass_axe(browser, live_server):
    _large_portfolio()
    client = _session(UserFactory(roles=["executive"]))
    urls = [reverse("inventory:lineage"), f"{reverse('inventory:lineage')}?business_unit=unit-1&q=Model+01",
            f"{reverse('inventory:lineage')}?q=Model+001&focus=version:"
            f"{ModelVersion.objects.order_by('pk').first().pk}"]

    failures = {url: found for url in urls if (found := _check(browser, live_server, url, client))}

    assert failures == {}, failures

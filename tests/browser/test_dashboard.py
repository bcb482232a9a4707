"""An executive opens the dashboard and a lineage graph in a real browser, under the real CSP."""

import pytest

from apps.core.roles import Role
from apps.inventory.models import Stage
from tests.browser.test_smoke import log_in
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRIFTED = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.7.0", "numpy": "2.2.0"}}


def _portfolio():
    step = PipelineStepFactory()
    model = MLModelFactory(name="Credit scoring", stage=Stage.PRODUCTION)
    version = ModelVersionFactory(model=model, version="2.1.0", stage=Stage.PRODUCTION,
                                  training_datasets=[step.output])
    DeploymentFactory(version=version, business_process=BusinessProcessFactory(name="Loan approval"),
                      runtime_environment=DRIFTED)
    MLModelFactory(name="Churn", team=model.team, stage=Stage.DEVELOPMENT)
    return model


def _watch_console(page) -> list[str]:
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_an_executive_sees_red_flags_and_charts_and_a_bar_opens_the_model_list(page, live_server, screenshot):
    model = _portfolio()
    UserFactory(username="exec", first_name="Eve", roles=[Role.EXECUTIVE])
    errors = _watch_console(page)
    log_in(page, live_server, "exec")
    # An executive lands on the dashboard.
    page.wait_for_url(f"{live_server.url}/inventory/dashboard/")

    page.locator("[data-figure-id=figure-stage-by-unit] .main-svg").first.wait_for()
    assert page.locator(".chart .main-svg").count() >= 3
    # The partial Plotly bundle draws every trace type the dashboard uses, heat maps included.
    assert page.locator(".chart .heatmaplayer image").count() >= 1
    flags = page.get_by_role("region", name="Red flags")
    assert flags.get_by_role("link", name="Credit scoring").first.is_visible()
    # One business sentence per model; the engineers' detail one click away.
    assert "it runs on software other than the one it was validated on" in flags.inner_text().lower()
    flags.locator("summary").first.click()
    text = flags.inner_text()
    assert "scikit-learn: validated 1.6.1, runs 1.7.0" in text
    # It never passed the gate: the governance apps flag that too.
    assert "In production without valid approval" in text and "Never risk-assessed" in text
    screenshot(page, "dashboard-executive")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"

    bar_path = page.locator("[data-figure-id=figure-stage-by-unit] .bars .point path").last
    bar_path.scroll_into_view_if_needed()
    bar = bar_path.bounding_box()
    # Plotly finds the clicked point from its hover state, which follows the pointer a moment later.
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.locator(".hoverlayer .hovertext").first.wait_for()
    page.mouse.down()
    page.mouse.up()
    page.wait_for_url(lambda url: "/inventory/?" in url)
    assert page.url.startswith(f"{live_server.url}/inventory/?business_unit={model.team.business_unit.slug}&stage=")


def test_the_lineage_page_draws_the_graph(page, live_server, screenshot):
    model = _portfolio()
    UserFactory(username="exec", roles=[Role.EXECUTIVE])
    errors = _watch_console(page)
    log_in(page, live_server, "exec")
    page.wait_for_url(f"{live_server.url}/inventory/dashboard/")

    page.goto(f"{live_server.url}/inventory/models/{model.slug}/lineage/")

    page.locator("[data-figure-id=figure-lineage] .main-svg").first.wait_for()
    assert page.locator("[data-figure-id=figure-lineage] .scatterlayer .point").count() == 6
    assert "Loan approval" in page.locator("[data-figure-id=figure-lineage] .scatterlayer").text_content()
    page.get_by_text("Nodes by column").click()
    assert page.get_by_role("link", name="Loan approval").is_visible()
    screenshot(page, "lineage-model")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


PHONE = {"width": 390, "height": 844}


def _phone_page(browser, live_server, user):
    """A 390x844 viewport (a phone held upright), signed in as ``user``, with axe-core ready."""
    from django.conf import settings
    from django.test import Client

    from tests.browser.test_accessibility import AXE

    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.add_init_script(path=str(AXE))
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    return context, context.new_page()


@pytest.mark.parametrize("path", ["/inventory/dashboard/", "/inventory/dashboard/?rank=money", "/"])
def test_the_dashboard_and_home_read_on_a_390_pixel_phone_without_sideways_scrolling(
        path, browser, live_server, screenshot):
    from tests.browser.test_accessibility import axe_violations

    _portfolio()
    user = UserFactory(username="exec", first_name="Eve", roles=[Role.EXECUTIVE])
    context, page = _phone_page(browser, live_server, user)
    page.goto(f"{live_server.url}{path}")
    for chart in page.locator(".chart[data-figure-id]").all():
        chart.locator(".main-svg").first.wait_for()

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The headline figures stack; the charts fit the screen.
    kpis = page.locator(".kpi-grid .kpi")
    if kpis.count() > 1:
        first, second = kpis.nth(0).bounding_box(), kpis.nth(1).bounding_box()
        assert second["y"] > first["y"] and first["width"] <= PHONE["width"]
    for chart in page.locator(".chart[data-figure-id] .main-svg").all()[:3]:
        assert chart.bounding_box()["width"] <= PHONE["width"]
    assert axe_violations(page) == []
    screenshot(page, f"phone{path.replace('/', '-').replace('?', '-')}")
    context.close()

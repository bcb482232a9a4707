"""Log in through the real login form as each role and look at the home page."""

import pytest
from playwright.sync_api import expect

from apps.core.roles import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Where each role lands after signing in (what it acts on); the others land on the home page.
START_PAGE = {Role.EXECUTIVE: "/inventory/dashboard/", Role.REVIEWER: "/reviews/"}
HOME_SECTION = {
    Role.EXECUTIVE: "Portfolio overview",
    Role.REVIEWER: "Reviews and risk",
    Role.DATA_SCIENTIST: "Your models",
    Role.ADMIN: "Administration",
}


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    # Wait for the landing page's load event: its scripts (the menu toggle, charts)
    # must be attached before a test presses anything on it.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_each_role_logs_in_and_sees_its_home_page(role, page, live_server, screenshot):
    UserFactory(username=f"demo-{role.value}", first_name="Demo", roles=[role])
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    log_in(page, live_server, f"demo-{role.value}")

    page.wait_for_url(f"{live_server.url}{START_PAGE.get(role, '/')}")
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Welcome, Demo").is_visible()
    assert page.get_by_role("heading", name=HOME_SECTION[role]).is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").is_visible()
    shot = screenshot(page, f"home-{role.value}")
    assert shot.stat().st_size > 10_000
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


def test_a_wrong_password_is_refused_on_screen(page, live_server):
    UserFactory(username="erin", roles=[Role.EXECUTIVE])
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username and password")


def test_the_menu_collapses_on_a_phone_and_opens_from_the_keyboard(browser, live_server):
    UserFactory(username="mobile", first_name="Demo", roles=[Role.EXECUTIVE])
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, live_server, "mobile")
    nav_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory")
    expect(nav_link).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_visible()
    context.close()

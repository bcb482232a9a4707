"""axe-core over every page of the portal, as each role that reaches it: no serious or critical violation.

Pages come from the role matrix (``tests/pages.py``), so a new page is checked the day it gets its entry. axe-core
is vendored under ``tests/browser/vendor`` (never served to users) and injected the way an extension would be,
before the page's own scripts and under the page's real Content-Security-Policy.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.inventory.models import Stage, Team
from apps.monitoring import services as monitoring_services
from tests.browser.test_dashboard import _portfolio
from tests.factories import UserFactory
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_views import evaluation_frame, frame_csv
from tests.pages import is_page, page_cases, url_for
from tests.reviews.helpers import submitted_review
from tests.role_matrix import collect_writes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
BLOCKING = ("serious", "critical")
# axe only asks for a review when an id reference points nowhere; a screen reader then reads nothing, so it fails here.
DANGLING_IDREFS = """() => [...document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]')]
  .flatMap(el => ['aria-describedby', 'aria-labelledby', 'aria-controls']
    .flatMap(attr => (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean)
      .filter(id => !document.getElementById(id))
      .map(id => `${attr}="${id}" on <${el.tagName.toLowerCase()} name="${el.getAttribute('name') || ''}">`)))"""
CASES = page_cases()


def axe_violations(page) -> list[str]:
    """axe's serious and critical violations on the page, and id references to nothing, one line each."""
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    found = [f"{v['id']} ({v['impact']}): {v['help']}: {[node['target'] for node in v['nodes']][:6]}"
             for v in violations if v["impact"] in BLOCKING]
    return found + [f"dangling reference: {line}" for line in page.evaluate(DANGLING_IDREFS)]


def _session(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _check(browser, live_server, url: str, client: Client) -> list[str]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(path=str(AXE))
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is not None:
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}{url}")
    # Charts are drawn after load; axe must see them drawn.
    for chart in page.locator(".chart[data-figure-id]").all():
        chart.locator(".main-svg").first.wait_for()
    found = axe_violations(page)
    context.close()
    return found


@pytest.mark.parametrize(("url_name", "roles"), CASES, ids=[name for name, _ in CASES])
def test_every_page_passes_axe_for_every_role_that_reaches_it(url_name, roles, browser, live_server):
    url = url_for(url_name)
    users = {role: UserFactory(roles=[role]) for role in roles} or {"anonymous": None}
    for user in filter(None, users.values()):
        user.teams.add(*Team.objects.all())
    failures = {}
    for role, user in users.items():
        client = _session(user)
        response = client.get(url)
        body = "" if response.streaming else response.content.decode(errors="replace")
        if response.status_code != 200 or not is_page(response.get("Content-Type", ""), body):
            continue
        if found := _check(browser, live_server, url, client):
            failures[role] = found
    assert failures == {}, "\n".join(f"{role} on {url}:\n  " + "\n  ".join(lines) for role, lines in failures.items())


def test_the_chart_pages_pass_axe_with_their_charts_drawn(browser, live_server):
    model = _portfolio()
    version = model.versions.get()
    process = version.deployments.get().business_process
    pages = [reverse("portfolio:dashboard"), reverse("inventory:lineage"),
             reverse("inventory:model-lineage", kwargs={"slug": model.slug}), model.get_absolute_url(),
             version.get_absolute_url(), process.get_absolute_url(), reverse("inventory:index")]
    failures = {}
    for role in ("executive", "data_scientist"):
        user = UserFactory(roles=[role])
        user.teams.add(model.team)
        client = _session(user)
        for url in pages:
            if found := _check(browser, live_server, url, client):
                failures[f"{role} on {url}"] = found
    assert failures == {}, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in failures.items())


def test_every_chart_s_data_table_is_reached_and_opened_from_the_keyboard(browser, live_server):
    _portfolio()
    client = _session(UserFactory(roles=["executive"]))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('portfolio:dashboard')}")
    cards = page.locator(".chart-card:has(details.chart-data)")
    expected = {cards.nth(i).get_attribute("aria-labelledby") for i in range(cards.count())}
    assert len(expected) >= 3

    reached = set()
    for _ in range(400):
        if reached == expected:
            break
        page.keyboard.press("Tab")
        chart = page.evaluate("() => document.activeElement.matches('details.chart-data > summary')"
                              " ? document.activeElement.closest('.chart-card').getAttribute('aria-labelledby') : null")
        if chart and chart not in reached:
            reached.add(chart)
            page.keyboard.press("Enter")
            assert page.locator(f"[aria-labelledby='{chart}'] details.chart-data table").is_visible()
    context.close()

    assert reached == expected


def test_the_monitoring_pages_pass_axe_with_groups_drift_and_a_time_series(browser, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    scientist = UserFactory(roles=["data_scientist"])
    version = ModelVersionFactory(model__team__members=[scientist], stage=Stage.PRODUCTION)
    monitoring_services.reference_upload(actor=scientist, version=version, filename="train.csv",
                                         data=frame_csv(evaluation_frame(seed=1)))
    for seed, kind in ((2, "validation"), (3, "production")):
        evaluation, _ = monitoring_services.evaluation_upload(
            actor=scientist, version=version, filename="eval.csv", kind=kind, sensitive_features=["sex"],
            data=frame_csv(evaluation_frame(seed=seed, shift=15)))
    evaluation.refresh_from_db()
    assert evaluation.status == evaluation.Status.DONE, evaluation.error
    drawn = _session(scientist).get(evaluation.get_absolute_url()).content.decode()
    assert 'data-figure-id="figure-drift"' in drawn and 'data-figure-id="figure-groups-0"' in drawn
    pages = [evaluation.get_absolute_url(), reverse("monitoring:model", kwargs={"slug": version.model.slug}),
             reverse("monitoring:index")]
    failures = {}
    for role in ("executive", "data_scientist"):
        client = _session(scientist if role == "data_scientist" else UserFactory(roles=[role]))
        for url in pages:
            if found := _check(browser, live_server, url, client):
                failures[f"{role} on {url}"] = found
    assert failures == {}, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in failures.items())


WRITES = collect_writes()
FORM_CASES = [(name, role) for name, roles in CASES for role in roles[-1:]
              if role in WRITES.get(name, {}).get("post", ())]


@pytest.mark.parametrize(("url_name", "role"), FORM_CASES, ids=[name for name, _ in FORM_CASES])
def test_every_form_passes_axe_with_its_errors_shown(url_name, role, browser, live_server):
    url = url_for(url_name)
    user = UserFactory(roles=[role])
    user.teams.add(*Team.objects.all())
    client = _session(user)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(path=str(AXE))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}{url}")
    # The page's own form (it posts to itself), emptied, submitted without the browser's checks (as a script or
    # an old browser would): the server's error messages are under test.
    found_form = page.evaluate("""() => {
      const form = [...document.querySelectorAll('main form')].find(f => f.method === 'post'
        && new URL(f.action, location.href).pathname === location.pathname);
      if (!form) return false;
      form.querySelectorAll('input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea')
        .forEach(field => { field.value = ''; });
      form.querySelectorAll('select').forEach(select => { select.selectedIndex = -1; });
      form.querySelectorAll('input[type=radio]').forEach(radio => { radio.checked = false; });
      form.noValidate = true;
      window.formUnderTest = form;
      return true;
    }""")
    if not found_form:
        context.close()
        pytest.skip(f"{url_name} shows no form posting to itself with this data")
    with page.expect_navigation():
        page.evaluate("() => window.formUnderTest.requestSubmit()")
    errors_shown = page.locator(".field-error, .form-errors, [role=alert]").count()
    found = axe_violations(page)
    context.close()

    assert errors_shown, f"posting {url_name} empty showed no error"
    assert found == [], "\n".join(found)


def test_the_error_pages_pass_axe(browser, live_server):
    client = _session(UserFactory(roles=["executive"]))
    failures = {}
    for url in ("/inventory/models/no-such-model/", reverse("inventory:model-create")):  # 404, then 403
        if found := _check(browser, live_server, url, client):
            failures[url] = found
    assert failures == {}, failures


def test_a_review_awaiting_its_decision_passes_axe_for_its_reviewer(browser, live_server):
    review = submitted_review(submitter=UserFactory(roles=["data_scientist"]))

    found = _check(browser, live_server, review.get_absolute_url(), _session(UserFactory(roles=["reviewer"])))

    assert found == []

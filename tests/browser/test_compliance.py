"""A reviewer classifies a credit model in the browser; the EU AI Act's high-risk obligations then apply to it."""

import pytest

from tests.browser.test_smoke import log_in
from tests.factories import UserFactory
from tests.inventory.factories import MLModelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_classifies_a_credit_model_and_sees_its_controls(page, live_server):
    UserFactory(username="rita", roles=["reviewer"])
    model = MLModelFactory(name="Consumer credit scoring")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, "rita")
    page.wait_for_url(f"{live_server.url}/reviews/")  # a reviewer's start page: the review queue
    page.goto(f"{live_server.url}/compliance/models/{model.slug}/")
    assert page.get_by_text("Not classified yet").is_visible()
    page.get_by_role("link", name="Classify").click()
    page.get_by_label("EU AI Act category").select_option("high_risk")
    page.get_by_label("Annex III area").select_option("essential_services")
    page.get_by_label("Our role").select_option("provider")
    page.get_by_label("Rationale").fill("Scores consumer credit applicants.")
    page.get_by_role("button", name="Save the classification").click()
    page.wait_for_url(f"{live_server.url}/compliance/models/{model.slug}/")
    assert page.get_by_role("rowheader", name="EU-9 Risk management system Art. 9").is_visible()
    assert page.get_by_text("Have a reviewer assess the model's risk.").first.is_visible()
    page.goto(f"{live_server.url}/compliance/?classified=true")
    assert page.get_by_role("link", name="Consumer credit scoring").is_visible()
    assert errors == []

"""A reviewer decides a review from its page with the evidence beside the checklist; a data scientist refused by
the production gate reaches the missing step in one click. Real browser, real CSP."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.core.roles import Role
from apps.inventory.models import Stage
from apps.reviews.models import ChecklistVerdict
from tests.browser.test_journeys import _start
from tests.factories import UserFactory
from tests.inventory.factories import DataSetFactory, DeploymentFactory, MLModelFactory, ModelVersionFactory
from tests.reviews.helpers import assessed_version, submitted_review
from tests.reviews.test_evidence import evaluate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_decides_a_review_from_its_page_with_the_evidence_visible(page, live_server, screenshot):
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    UserFactory(username="rita", roles=[Role.REVIEWER])
    version = assessed_version(name="Credit scoring", team__members=[sam])
    version.training_datasets.add(DataSetFactory(name="Loan applications", source_system="core-banking"))
    DeploymentFactory(version=version, runtime_environment={"python": "3.9.1"})
    evaluate(version)
    review = submitted_review(submitter=sam, version=version)
    errors = _start(page, live_server, "rita")

    page.goto(f"{live_server.url}{review.get_absolute_url()}")
    evidence = page.locator("aside.review-evidence")
    for section in ("evaluation", "drift", "environment", "provenance", "risk", "governance"):
        assert evidence.locator(f"#evidence-{section}").is_visible()
    fairness = evidence.locator("#evidence-fairness")
    assert "female" in fairness.inner_text() and "0.250 – 0.370" in fairness.inner_text()
    assert "core-banking" in evidence.locator("#evidence-provenance").inner_text()
    assert "Environment mismatch" in evidence.locator("#evidence-environment").inner_text()
    bias_row = page.locator('tr[data-item="bias_checked"]')
    assert "below four-fifths: female" in bias_row.inner_text()  # the item arrives pre-filled with its evidence
    checklist, aside = page.locator(".review-checklist").bounding_box(), evidence.bounding_box()
    assert aside["x"] > checklist["x"] + checklist["width"] - 1  # beside the checklist, not below it
    screenshot(page, "review-evidence-beside-checklist")

    form = page.locator("form.decision-form")
    bias_row.get_by_label("Disputed").check()
    form.get_by_label("Request changes").check()
    form.get_by_label("Comment").fill("Explain the female selection rate.")
    form.get_by_role("button", name="Record my decision").click()
    error = page.locator('tr[data-item="bias_checked"] .field-error')
    error.wait_for()
    assert error.inner_text() == "Say why you dispute this item."

    page.locator('tr[data-item="bias_checked"]').get_by_label("Why").fill("0.6 of the male rate, unexplained.")
    page.locator("form.decision-form").get_by_role("button", name="Record my decision").click()
    page.wait_for_url(f"{live_server.url}{review.get_absolute_url()}")
    assert "the review is now changes requested" in page.locator("body").inner_text().lower()
    assert "0.6 of the male rate, unexplained." in page.locator('tr[data-item="bias_checked"]').inner_text()
    screenshot(page, "review-decided-with-a-dispute")
    verdict = ChecklistVerdict.objects.get()
    assert (verdict.item.key, verdict.verdict) == ("bias_checked", "dispute")
    unexpected = [e for e in errors if "status of 400" not in e]  # the refused first try logs its 400
    assert unexpected == [], f"browser console errors (CSP or JS): {unexpected}"


def test_a_gate_refusal_banner_leads_to_the_missing_step_in_one_click(page, live_server, screenshot):
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="3.0.0",
                                  stage=Stage.STAGING)
    _start(page, live_server, "sam")

    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    form = page.locator("form.stage-form")
    form.get_by_label("Move to stage").select_option(Stage.PRODUCTION.value)
    form.get_by_role("button", name="Move stage").click()
    banner = page.locator("#gate-refusal")
    banner.wait_for()
    assert banner.bounding_box()["y"] < page.locator("#governance").bounding_box()["y"]
    screenshot(page, "gate-refusal-banner")

    banner.get_by_role("link", name="Open or continue a review").click()
    page.wait_for_url(lambda url: f"/reviews/versions/{version.pk}/" in url)
    assert page.get_by_role("button", name="Start a review").is_visible()


def test_the_assessment_form_previews_the_tier_live_beside_the_matrix(page, live_server, screenshot):
    UserFactory(username="rita", roles=[Role.REVIEWER])
    model = MLModelFactory(name="Churn predictor", exposure="internal", automation_level="human_decides")
    errors = _start(page, live_server, "rita")

    page.goto(f"{live_server.url}{reverse('risk:assess', args=[model.slug])}")
    preview = page.locator("#tier-preview")
    assert "Rate 4 more risks" in preview.inner_text()
    form = page.locator("form.assess-form")
    assert preview.bounding_box()["x"] > form.bounding_box()["x"] + form.bounding_box()["width"] - 1  # beside
    for risk in ("Model unavailable", "Wrong prediction", "Degradation", "Loss of skills"):
        page.get_by_label(f"{risk}: probability", exact=True).select_option("2")
        page.get_by_label(f"{risk}: impact", exact=True).select_option("2")
    result = page.locator("#tier-preview .tier-preview-result")  # htmx swaps the preview in; nothing is saved
    expect(result).to_contain_text("Tier low")
    page.get_by_label("Wrong prediction: impact", exact=True).select_option("5")  # 2 x 5 = 10: high
    expect(result).to_contain_text("Tier high")
    expect(page.locator("#tier-preview .mark", has_text="Wrong prediction")).to_be_visible()
    screenshot(page, "assessment-live-tier-preview")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


def test_the_upload_form_s_version_chooser_narrows_as_one_types(page, live_server):
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    ModelVersionFactory(model__name="Anti-fraud", version="1.0.0")
    ModelVersionFactory(model__name="Churn predictor", version="3.1.0", model__team__members=[sam])
    errors = _start(page, live_server, "sam")

    page.goto(f"{live_server.url}{reverse('monitoring:upload')}")
    select = page.locator("select#id_version")
    assert select.locator("optgroup").first.get_attribute("label") == "Your models"
    page.get_by_label("Find a version").fill("anti")
    expect(select.locator("option", has_text="Churn predictor")).to_be_hidden()
    assert select.locator("option:not([hidden])", has_text="Anti-fraud").count() == 1
    select.select_option(label="Anti-fraud 1.0.0 (Development)")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"

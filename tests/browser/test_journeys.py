"""Whole journeys through the portal in a real browser, one per role, under the real CSP.

The data each journey starts from is built with factories and services before the browser is driven:
the ORM is only used again once a page has finished loading.
"""

import pytest
from django.test import Client
from django.urls import reverse
from sklearn.metrics import accuracy_score

from apps.core.roles import Role
from apps.inventory import services as inventory
from apps.inventory.models import MLModel, ModelVersion, Stage
from apps.reviews.models import ReviewDecision
from tests.browser.test_monitoring import _evaluation_csv
from tests.browser.test_smoke import log_in
from tests.compliance.factories import UseCaseFactory
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    PipelineStepFactory,
    TeamFactory,
)
from tests.reviews.helpers import submitted_review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOUR_EYES = "Four-eyes rule: you cannot decide on this review because you submitted this review"


def _watch_console(page) -> list[str]:
    errors = []

    def on_console(msg):
        if msg.type == "error":
            errors.append(f"{msg.text} at {msg.location.get('url')}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _start(page, live_server, username: str) -> list[str]:
    page.set_default_timeout(15_000)
    errors = _watch_console(page)
    log_in(page, live_server, username)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)  # the role's start page
    return errors


# --- 1. Executive: dashboard → process → model → lineage → history ---------------------------------

def _served_model() -> MLModel:
    """A production model registered through the service (so it has history) serving "Loan approval"."""
    scientist = UserFactory(username="builder", roles=[Role.DATA_SCIENTIST])
    process = BusinessProcessFactory(name="Loan approval")
    model = inventory.model_register(actor=scientist, name="Credit scoring", purpose="Score loan applications.",
                                     accountable_owner=scientist, team=TeamFactory(members=[scientist]),
                                     business_processes=[process],
                                     use_case=UseCaseFactory(business_process=process).pk)
    step = PipelineStepFactory()
    version = ModelVersionFactory(model=model, version="2.1.0", stage=Stage.PRODUCTION, training_datasets=[step.output])
    MLModel.objects.filter(pk=model.pk).update(stage=Stage.PRODUCTION)
    DeploymentFactory(version=version, business_process=process)
    return model


def test_an_executive_follows_a_process_to_the_model_its_lineage_and_its_history(page, live_server, screenshot):
    model = _served_model()
    UserFactory(username="exec", first_name="Eve", roles=[Role.EXECUTIVE])
    errors = _start(page, live_server, "exec")

    page.goto(f"{live_server.url}/inventory/dashboard/")
    page.get_by_role("link", name="See the lineage of the whole portfolio").click()
    page.wait_for_url(lambda url: "/inventory/lineage/" in url)
    page.locator("[data-figure-id=figure-lineage] .main-svg").first.wait_for()
    page.get_by_text("Nodes by column").click()
    page.get_by_role("link", name="Loan approval").click()

    page.wait_for_url(lambda url: "/inventory/processes/" in url)
    assert page.get_by_role("heading", name="Loan approval", level=1).is_visible()
    served_by = page.get_by_role("region", name="Models that drive it")
    assert "2.1.0" in served_by.inner_text()
    screenshot(page, "journey-executive-process")
    served_by.get_by_role("link", name="Credit scoring").click()

    page.wait_for_url(f"{live_server.url}/inventory/models/{model.slug}/")
    page.get_by_role("link", name="See the full lineage graph").click()
    page.wait_for_url(f"{live_server.url}/inventory/models/{model.slug}/lineage/")
    page.locator("[data-figure-id=figure-lineage] .main-svg").first.wait_for()
    assert "Loan approval" in page.locator("[data-figure-id=figure-lineage] .scatterlayer").text_content()
    screenshot(page, "journey-executive-lineage")

    page.get_by_role("link", name="← Credit scoring").click()
    page.wait_for_url(f"{live_server.url}/inventory/models/{model.slug}/")
    history = page.get_by_role("region", name="History")
    # The history speaks in sentences, not in the trail's codes.
    assert "registered the model Credit scoring" in history.inner_text()
    assert "model.registered" not in history.inner_text()
    history.scroll_into_view_if_needed()
    screenshot(page, "journey-executive-history")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


# --- 2. Data scientist: register a model, add a version, upload an evaluation ----------------------

def test_a_data_scientist_registers_a_model_and_a_version_and_uploads_an_evaluation(
        page, live_server, screenshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sam = UserFactory(username="sam", first_name="Sam", last_name="Scientist", roles=[Role.DATA_SCIENTIST])
    team = TeamFactory(name="Fraud team", members=[sam])  # only a team's members register its models
    use_case = UseCaseFactory(title="Card fraud flagging")  # a model comes from an approved use case
    content, frame = _evaluation_csv()
    errors = _start(page, live_server, "sam")

    page.goto(f"{live_server.url}{reverse('inventory:model-create')}")
    page.locator("#id_use_case").select_option(value=str(use_case.pk))
    page.locator("#id_name").fill("Fraud detector")
    page.locator("#id_purpose").fill("Flag card payments that look fraudulent.")
    page.locator("#id_accountable_owner").select_option(label="Sam Scientist (sam)")
    page.locator("#id_team").select_option(value=str(team.pk))
    screenshot(page, "journey-scientist-model-form")
    page.locator("form.service-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/inventory/models/fraud-detector/" in url)
    assert page.get_by_role("heading", name="Fraud detector", level=1).is_visible()

    page.get_by_role("link", name="New version").click()
    page.wait_for_url(f"{live_server.url}{reverse('inventory:version-create', args=['fraud-detector'])}")
    page.locator("#id_version").fill("1.0.0")
    page.locator("#id_algorithm").fill("gradient boosting")
    page.locator("#id_validation_metrics").fill('{"accuracy": 0.9}')
    page.locator("form.service-form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/inventory/models/fraud-detector/versions/1.0.0/")
    assert "Version 1.0.0 of Fraud detector was registered." in page.locator("body").inner_text()
    version = ModelVersion.objects.get(model__slug="fraud-detector", version="1.0.0")
    assert version.created_by.username == "sam" and version.validation_metrics == {"accuracy": 0.9}

    page.goto(f"{live_server.url}{reverse('monitoring:upload')}")
    page.get_by_label("Model version").select_option(label="Fraud detector 1.0.0 (Development)")
    page.get_by_label("File").set_input_files(files=[{"name": "eval.csv", "mimeType": "text/csv", "buffer": content}])
    page.get_by_label("Sensitive features").fill("sex")
    page.get_by_role("button", name="Upload", exact=True).click()

    page.wait_for_url(lambda url: "/monitoring/evaluations/" in url)
    assert page.locator("#evaluation-status").inner_text().startswith("Status: Done")
    overall = page.get_by_role("region", name="Overall metrics")
    assert f"{accuracy_score(frame.y_true, frame.y_pred):.4f}" in overall.inner_text()
    page.locator("[data-figure-id=figure-groups-0] .main-svg").first.wait_for()
    screenshot(page, "journey-scientist-evaluation")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


# --- 3. Reviewer: assess risk, then approve a submitted review --------------------------------------

def test_a_reviewer_assesses_risk_then_approves_a_review(page, live_server, screenshot):
    model = MLModelFactory(name="Churn predictor")
    scientist = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    review = submitted_review(submitter=scientist, name="Credit scoring")  # tier low: one approval
    UserFactory(username="rita", roles=[Role.REVIEWER])
    errors = _start(page, live_server, "rita")

    page.goto(f"{live_server.url}{reverse('risk:assess', args=[model.slug])}")
    for risk in ("Model unavailable", "Wrong prediction", "Degradation", "Loss of skills"):
        page.get_by_label(f"{risk}: probability", exact=True).select_option("2")
        page.get_by_label(f"{risk}: impact", exact=True).select_option("2")
        page.get_by_label(f"{risk}: rationale", exact=True).fill(f"{risk} is unlikely and cheap to recover from.")
    page.get_by_role("button", name="Submit assessment").click()

    page.wait_for_url(lambda url: "/risk/assessments/" in url)
    body = page.locator("body").inner_text()
    assert "Assessment submitted: tier low. Re-assessment due " in body
    assert page.get_by_role("heading", level=1).inner_text().endswith("Low")
    assert "re-assessment due 20" in page.locator(".page-header .lead").inner_text()
    screenshot(page, "journey-reviewer-assessment")

    page.goto(f"{live_server.url}{review.get_absolute_url()}")
    assert page.locator(".approval-progress").inner_text() == "0 of 1 approval"
    form = page.locator("form.decision-form")
    form.get_by_label("Approve").check()
    form.get_by_label("Comment").fill("Evidence checked; fit for production.")
    screenshot(page, "journey-reviewer-decision-form")
    form.get_by_role("button", name="Record my decision").click()

    page.wait_for_url(f"{live_server.url}{review.get_absolute_url()}")
    assert "the review is now approved" in page.locator("body").inner_text()
    assert page.locator("h1 .review-state").inner_text() == "Approved"
    assert page.locator(".approval-progress").inner_text() == "1 of 1 approval"
    assert page.locator("form.decision-form").count() == 0
    screenshot(page, "journey-reviewer-approved")
    review.refresh_from_db()
    assert review.state == "approved"
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


# --- 4. Four-eyes: who submitted a review cannot decide on it ---------------------------------------

def test_a_scientist_who_is_also_a_reviewer_sees_the_four_eyes_refusal(page, live_server, screenshot):
    both = UserFactory(username="dual", roles=[Role.DATA_SCIENTIST, Role.REVIEWER])
    review = submitted_review(submitter=both)
    errors = _start(page, live_server, "dual")

    page.goto(f"{live_server.url}{review.get_absolute_url()}")
    refusal = page.locator("#decision .refusal")
    assert refusal.is_visible() and refusal.inner_text().startswith(FOUR_EYES)
    assert page.locator("form.decision-form").count() == 0
    assert page.get_by_role("button", name="Record my decision").count() == 0
    screenshot(page, "journey-four-eyes-refusal")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"

    client = Client()
    client.force_login(both)
    forced = client.post(reverse("reviews:decide", args=[review.pk]),
                         {"decision": "approve", "comment": "", "seen_hash": review.content_hash})
    assert forced.status_code == 403 and FOUR_EYES.encode() in forced.content
    assert not ReviewDecision.objects.filter(review=review).exists()
    review.refresh_from_db()
    assert review.state == "submitted"


# --- 5. Production gate on the version page ---------------------------------------------------------

def test_the_production_gate_refuses_an_unapproved_version_on_screen(page, live_server, screenshot):
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="3.0.0",
                                  stage=Stage.STAGING)
    errors = _start(page, live_server, "sam")

    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    form = page.locator("form.stage-form")
    form.get_by_label("Move to stage").select_option(Stage.PRODUCTION.value)
    form.get_by_label("Reason").fill("Ready, we think.")
    with page.expect_response(lambda response: response.request.method == "POST") as refused:
        form.get_by_role("button", name="Move stage").click()
    assert refused.value.status in (400, 409)

    refusal = page.locator("form.stage-form .field-error, .form-errors").first
    refusal.wait_for()
    assert "Credit scoring 3.0.0 cannot go to production:" in refusal.inner_text()
    # The focus moved to the refusal (a keyboard or screen-reader user hears it, not the page's top).
    assert page.evaluate("() => document.activeElement.matches('.field-error, .form-errors')")
    assert "Move stage" in page.get_by_role("button", name="Move stage").inner_text()  # the form is offered again
    refusal.scroll_into_view_if_needed()
    screenshot(page, "journey-production-gate-refused")
    version.refresh_from_db()
    assert version.stage == Stage.STAGING and not version.transitions.exists()
    # The refusal's own 4xx status is the one console error the browser may log.
    refusal_status = f"status of {refused.value.status}"
    unexpected = [e for e in errors if not (refusal_status in e and e.endswith(f"at {refused.value.url}"))]
    assert unexpected == [], f"browser console errors (CSP or JS): {unexpected}"

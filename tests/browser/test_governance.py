"""One governance state, read everywhere: a suspended version reads "Suspended", with the same reason sentence, on
the model list, the model page, the version page and in the API, in a real browser under the real CSP.

The suspension comes about as in production: a critical-tier model approved by three reviewers goes to production,
then a production evaluation breaches its fairness limit. Everything is built before the browser is driven.
"""

import pytest

from apps.core.roles import Role
from apps.inventory import services as inventory
from apps.inventory.models import ModelGovernance, VersionGovernance
from apps.monitoring.models import Evaluation
from apps.reviews import services as reviews
from tests.browser.test_journeys import _start
from tests.factories import UserFactory
from tests.monitoring.test_services import evaluation_csv, upload
from tests.reviews.helpers import submitted_review
from tests.risk.factories import ratings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CRITICAL = ratings(5, 5)  # three approvals, daily monitoring, a breach suspends the approval


def _suspended_version():
    scientist = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    review = submitted_review(submitter=scientist, tier_ratings=CRITICAL, name="Credit scoring")
    for i in range(3):
        reviews.review_decide(actor=UserFactory(username=f"rev{i}", roles=[Role.REVIEWER]), review=review,
                              decision="approve")
    version = inventory.version_transition(actor=scientist, version=review.version, to_stage="production")
    data, _ = evaluation_csv(flip_female=0.9)
    upload(scientist, version, data, kind=Evaluation.Kind.PRODUCTION)  # computed when the upload commits
    return version


def _suspension(row) -> str:
    return next(r["message"] for r in row.reasons if r["code"] == "approval_suspended")


def test_a_suspended_version_reads_suspended_with_one_reason_everywhere(page, live_server, screenshot, settings,
                                                                       tmp_path):
    settings.MEDIA_ROOT = tmp_path
    version = _suspended_version()
    model = version.model
    model_state, version_state = ModelGovernance.objects.get(pk=model.pk), VersionGovernance.objects.get(pk=version.pk)
    assert (model_state.status, version_state.status) == ("suspended", "suspended"), version_state.reasons
    sentence = _suspension(version_state)
    model_sentence = _suspension(model_state)  # the model names the version: "Version 1.0: monitoring found ..."
    assert model_sentence == f"Version {version.version}: {sentence[0].lower()}{sentence[1:]}"
    UserFactory(username="exec", roles=[Role.EXECUTIVE])
    errors = _start(page, live_server, "exec")

    page.goto(f"{live_server.url}/inventory/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Credit scoring", exact=True))
    assert row.locator(".gov-badge.gov-suspended").inner_text() == "Suspended"
    assert row.locator(".governance-reason").inner_text() == model_sentence
    screenshot(page, "governance-list")

    row.get_by_role("link", name="Credit scoring", exact=True).click()
    page.wait_for_url(f"{live_server.url}{model.get_absolute_url()}")
    state = page.locator("#governance")
    assert state.locator("h2 .gov-badge").inner_text() == "Suspended"
    assert model_sentence in state.locator("[data-code=approval_suspended]").inner_text()

    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    state = page.get_by_role("region", name="Governance state of this version")
    assert state.locator("h2 .gov-badge").inner_text() == "Suspended"
    assert sentence in state.locator("[data-code=approval_suspended]").inner_text()
    assert "Ready for production: No" in state.locator("#gate-readiness").inner_text()
    assert sentence in state.locator("#gate-readiness .gate-problems").inner_text()
    screenshot(page, "governance-version")

    model_answer = page.request.get(f"{live_server.url}/api/v1/models/{model.slug}/").json()
    version_answer = page.request.get(f"{live_server.url}/api/v1/model-versions/{version.pk}/").json()
    assert model_answer["governance"]["status"] == version_answer["governance"]["status"] == "suspended"
    assert model_sentence in [r["message"] for r in model_answer["governance"]["reasons"]]
    assert sentence in [r["message"] for r in version_answer["governance"]["reasons"]]
    assert version_answer["governance"]["gate_open"] is False
    assert errors == [], f"browser console errors (CSP or JS): {errors}"

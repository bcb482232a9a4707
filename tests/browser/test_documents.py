"""A reviewer generates a version's Annex IV documentation in the browser and downloads the PDF it stored."""

import hashlib
from pathlib import Path

import pytest

from apps.compliance.models import GeneratedDocument
from tests.browser.test_smoke import log_in
from tests.factories import UserFactory
from tests.inventory.factories import ModelVersionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_generates_an_annex_iv_document_and_downloads_the_pdf(page, live_server):
    UserFactory(username="rita", roles=["reviewer"])
    version = ModelVersionFactory(model__name="Consumer credit scoring")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, "rita")
    page.wait_for_url(f"{live_server.url}/reviews/")  # a reviewer's start page
    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    page.get_by_role("link", name="Documents").click()
    page.get_by_role("combobox", name="Document").select_option("annex_iv")
    page.get_by_role("button", name="Generate").click()
    document = GeneratedDocument.objects.get(version=version)
    assert page.get_by_text(document.pdf_sha256).first.is_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="PDF of Annex IV technical documentation (EU AI Act) number 1").click()
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == document.pdf_sha256
    assert info.value.suggested_filename == f"{document.reference}.pdf"
    assert errors == []

"""The Documents page of a version, the downloads and the API: who generates, who reads, what is shown."""

import hashlib

import pytest
from django.urls import reverse

from apps.compliance.models import GeneratedDocument
from apps.core.models import AuditEvent
from apps.reviews import services as review_services
from tests.compliance.factories import GeneratedDocumentFactory
from tests.factories import api_key_for
from tests.inventory.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def page_url(version) -> str:
    return reverse("compliance:documents", kwargs={"slug": version.model.slug, "version": version.version})


def api_url(version) -> str:
    return reverse("api-compliance-documents", kwargs={"version_id": version.pk})


def test_a_reviewer_generates_from_the_page_and_sees_number_hash_and_who(client_as):
    version = ModelVersionFactory()
    client = client_as("reviewer")
    response = client.post(page_url(version), {"kind": "annex_iv"})
    assert response.status_code == 302
    document = GeneratedDocument.objects.get(version=version)
    body = client.get(page_url(version)).content.decode()
    assert document.pdf_sha256 in body and client.user.username in body
    assert reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "pdf"}) in body
    assert AuditEvent.objects.filter(action="document.generated", actor=client.user).count() == 1


def test_an_unknown_kind_is_refused_with_a_message(client_as):
    version = ModelVersionFactory()
    response = client_as("reviewer").post(page_url(version), {"kind": "factsheet"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not GeneratedDocument.objects.exists()


def test_an_executive_reads_the_page_without_the_form_and_cannot_post(client_as):
    document = GeneratedDocumentFactory()
    client = client_as("executive")
    body = client.get(page_url(document.version)).content.decode()
    assert document.pdf_sha256 in body and "Generate a document" not in body
    assert client.post(page_url(document.version), {"kind": "annex_iv"}).status_code == 403
    assert GeneratedDocument.objects.count() == 1


def test_every_role_downloads_the_stored_bytes_with_their_hash(client_as):
    document = GeneratedDocumentFactory()
    response = client_as("executive").get(
        reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "pdf"}))
    data = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert hashlib.sha256(data).hexdigest() == document.pdf_sha256 == response["X-Content-SHA256"]
    assert f'filename="{document.reference}.pdf"' in response["Content-Disposition"]


def test_an_unknown_format_or_document_is_not_found(client_as):
    document = GeneratedDocumentFactory()
    client = client_as("reviewer")
    assert client.get(reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "docx"})
                      ).status_code == 404
    assert client.get(reverse("compliance:document-download", kwargs={"pk": document.pk + 1, "fmt": "pdf"})
                      ).status_code == 404


def test_anonymous_downloads_are_sent_to_login(client):
    document = GeneratedDocumentFactory()
    response = client.get(reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "pdf"}))
    assert response.status_code == 302 and "login" in response["Location"]


def test_attaching_from_the_page_shows_the_document_on_the_review(client_as, make_user):
    scientist = make_user("data_scientist")
    version = ModelVersionFactory()
    version.model.team.members.add(scientist)
    review = review_services.review_start(actor=scientist, version=version)
    document = GeneratedDocumentFactory(version=version)
    client = client_as("reviewer")
    response = client.post(page_url(version), {"document": document.pk, "review": review.pk})
    assert response.status_code == 302
    assert list(document.reviews.all()) == [review]
    body = client.get(review.get_absolute_url()).content.decode()
    assert "Generated documents attached to this round" in body and document.pdf_sha256 in body
    assert reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "pdf"}) in body


def test_the_api_lists_generates_and_downloads(client_as, make_user):
    version = ModelVersionFactory()
    reviewer = make_user("reviewer")
    headers = {"HTTP_AUTHORIZATION": f"Token {api_key_for(reviewer)}"}
    client = client_as(None)
    created = client.post(api_url(version), {"kind": "sr11_7"}, content_type="application/json", **headers)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["number"], body["generated_by"]) == ("sr11_7", 1, reviewer.username)
    listed = client.get(api_url(version), **headers).json()
    assert [d["pdf_sha256"] for d in listed] == [body["pdf_sha256"]]
    download = client.get(body["pdf_url"], **headers)
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == body["pdf_sha256"]


def test_the_api_refuses_a_bad_kind_by_field(client_as, make_user):
    version = ModelVersionFactory()
    headers = {"HTTP_AUTHORIZATION": f"Token {api_key_for(make_user('admin'))}"}
    response = client_as(None).post(api_url(version), {"kind": "x"}, content_type="application/json", **headers)
    assert response.status_code == 400 and "kind" in response.json()


def test_the_version_page_links_to_its_documents(client_as):
    version = ModelVersionFactory()
    body = client_as("executive").get(version.get_absolute_url()).content.decode()
    assert page_url(version) in body

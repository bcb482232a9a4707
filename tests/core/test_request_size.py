"""A request that declares a body larger than any upload is refused before it is read (413)."""

import pytest

from apps.core.middleware import RequestSizeLimitMiddleware
from apps.core.models import AuditEvent
from apps.monitoring.models import Evaluation
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    settings.PORTAL_MAX_UPLOAD_BYTES = 10 * 2**20
    return settings.PORTAL_MAX_UPLOAD_BYTES + RequestSizeLimitMiddleware.ENVELOPE


def test_an_api_upload_declared_over_the_limit_gets_413_and_stores_nothing(client, make_user, limit):
    key = api_key_for(make_user("data_scientist"))
    before = AuditEvent.objects.count()

    response = client.generic("POST", "/api/v1/evaluations/", b"x" * 100, content_type="text/csv",
                              CONTENT_LENGTH=str(limit + 1), HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "10 MB" in detail and "PORTAL_MAX_UPLOAD_MB" in detail
    assert Evaluation.objects.count() == 0 and AuditEvent.objects.count() == before


def test_a_page_upload_declared_over_the_limit_gets_413_with_the_limit(client_as, limit):
    client = client_as("data_scientist")

    response = client.generic("POST", "/monitoring/upload/", b"x" * 100, content_type="multipart/form-data",
                              CONTENT_LENGTH=str(limit + 1))

    assert response.status_code == 413
    page = response.content.decode()
    assert "Upload too large" in page and "10 MB" in page and "Nothing was stored" in page


def test_a_request_within_the_limit_goes_through(client_as, limit):
    client = client_as("data_scientist")

    response = client.generic("POST", "/monitoring/upload/", b"", content_type="multipart/form-data; boundary=x",
                              CONTENT_LENGTH=str(limit))

    assert response.status_code != 413
